package opensmtpd

import (
	"context"
	"fmt"
)

// CheckConf runs smtpd -n on c in o's container, with the files c names,
// and returns smtpd's output.
func CheckConf(ctx context.Context, o *OpenSMTPD, c Conf) (string, error) {
	const script = `f=$(mktemp) && printf '%s' "$1" > "$f"
[ -e ` + CAFile + ` ] || printf 'x\n' > ` + CAFile + `
[ -z "$2" ] || (umask 027 && printf '%s' "$2" > ` + SecretsFile + `)
[ -z "$3" ] || (umask 027 && printf '%s %s\n' "$3" "$(smtpctl encrypt "$4")" > ` + UsersFile + `)
smtpd -n -f "$f"; rc=$?; rm -f "$f"; exit $rc`
	out, code, err := o.ctr.Exec(ctx, "sh", "-c", script, "sh", c.Text, c.Secrets, c.User, c.Password)
	if err == nil && code != 0 {
		err = fmt.Errorf("smtpd -n: exit %d", code)
	}
	return out, err
}

// PortsOf returns the ports o takes mail on.
func PortsOf(o *OpenSMTPD) Ports { return o.ports }
