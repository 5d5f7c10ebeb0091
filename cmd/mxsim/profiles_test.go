package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/scenarios"
)

// TestProfilesList: "mxsim profiles" names every profile with its role,
// its faults and its sources.
func TestProfilesList(t *testing.T) {
	code, stdout, stderr := runCLI(t, "profiles")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	ps := scenarios.Profiles()
	if len(ps) < 6 {
		t.Fatalf("%d profiles, want the six of docs/profiles.md", len(ps))
	}
	for _, p := range ps {
		if !strings.Contains(stdout, p.Name+" ("+p.Role+"): "+p.Description) {
			t.Errorf("no line for %s in:\n%s", p.Name, stdout)
		}
		for _, s := range p.Sources {
			if !strings.Contains(stdout, "source "+s+"\n") {
				t.Errorf("%s: source %s not listed", p.Name, s)
			}
		}
		for _, f := range p.Faults {
			if !strings.Contains(stdout, "fault "+f.Name) {
				t.Errorf("%s: fault %s not listed", p.Name, f.Name)
			}
		}
	}
}

// TestProfilesShow: "mxsim profiles NAME" prints the profile's YAML as
// shipped; a bad name or too many are usage errors.
func TestProfilesShow(t *testing.T) {
	code, stdout, stderr := runCLI(t, "profiles", "ses-like")
	p, _ := scenarios.LookupProfile("ses-like")
	if code != exitOK || stderr != "" || stdout != string(p.YAML) {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"name: ses-like", "https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html", "454 4.7.0 Throttling failure"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ses-like YAML lacks %q", want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"profiles", "gmail"}, `mxsim profiles: unknown profile "gmail" (valid: gmail-like, `},
		{[]string{"profiles", "gmail-like", "ses-like"}, "want at most one profile name, got 2"},
		{[]string{"profiles", "-x"}, "flag provided but not defined: -x"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// TestValidateEveryProfile: "mxsim validate" accepts a scenario whose
// host takes each profile with all its faults, and rejects an unknown
// profile and fault at their line and column.
func TestValidateEveryProfile(t *testing.T) {
	dir := t.TempDir()
	for _, p := range scenarios.Profiles() {
		src := fmt.Sprintf(`name: uses-%s
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test:
    profile: %s
    faults: [%s]
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
`, p.Name, p.Name, strings.Join(p.FaultNames(), ", "))
		if err := os.WriteFile(filepath.Join(dir, p.Name+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCLI(t, "validate", dir)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("%d scenario(s) valid", len(scenarios.Profiles()))) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := `name: bad
hosts:
  mx1.example.test:
    profile: gmial-like
  mx2.example.test:
    profile: gmail-like
    faults: [rate_limted]
steps:
  - flush: {}
`
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "validate", bad)
	for _, want := range []string{
		bad + `:4:14: invalid profile "gmial-like" (valid: gmail-like, mailgun-like, microsoft-like, sendgrid-like, ses-like, yahoo-like) (did you mean "gmail-like"?)`,
		bad + `:7:14: unknown fault "rate_limted" of profile gmail-like (valid: rate_limited, `,
	} {
		if code != exitFail || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant %q", code, stderr, want)
		}
	}
}
