package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
)

// TestCACommandCreatesThenShows: the first run creates the CA, the next
// shows the same one; both print the trust line of each MTA, and never
// the key.
func TestCACommandCreatesThenShows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	code, stdout, stderr := runCLI(t, "ca", "-dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	ca, err := fakesmtp.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(dir, fakesmtp.CACertFile)
	for _, want := range []string{
		"created a new test CA in " + dir,
		"certificate:  " + pemPath,
		"SHA-256:      " + ca.Fingerprint(),
		"expires:      " + ca.Certificate().NotAfter.UTC().Format("2006-01-02"),
		"smtp_tls_CAfile = " + pemPath,
		"tls_verify_certificates = " + pemPath,
		`ca mxsim cert "` + pemPath + `"`,
		`action "relay" relay tls ca mxsim`,
		"-ca " + dir,
		"never in production",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, fakesmtp.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "PRIVATE KEY") || strings.Contains(stdout, strings.Split(string(key), "\n")[1]) {
		t.Errorf("output shows the key:\n%s", stdout)
	}

	code, again, _ := runCLI(t, "ca", "-dir", dir)
	if code != exitOK || !strings.Contains(again, "the test CA in "+dir) || !strings.Contains(again, ca.Fingerprint()) {
		t.Errorf("second run: exit %d, not the same CA:\n%s", code, again)
	}
}

// TestCACommandDirectory: -dir, else $MXSIM_CA_DIR, else the user's
// config directory; a relative directory is printed absolute.
func TestCACommandDirectory(t *testing.T) {
	base := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(base, "config"))
	t.Setenv("HOME", filepath.Join(base, "home"))
	t.Setenv(caDirEnv, "")
	if code, _, stderr := runCLI(t, "ca"); code != exitOK {
		t.Fatalf("default dir: exit %d: %s", code, stderr)
	}
	if _, err := fakesmtp.LoadCA(filepath.Join(base, "config", "mxsim", "ca")); err != nil {
		t.Errorf("default dir: %v", err)
	}
	t.Setenv(caDirEnv, filepath.Join(base, "env"))
	if code, _, stderr := runCLI(t, "ca"); code != exitOK {
		t.Fatalf("$%s: exit %d: %s", caDirEnv, code, stderr)
	}
	if _, err := fakesmtp.LoadCA(filepath.Join(base, "env")); err != nil {
		t.Errorf("$%s: %v", caDirEnv, err)
	}
	t.Chdir(base)
	code, stdout, stderr := runCLI(t, "ca", "-dir", "rel")
	if code != exitOK || !strings.Contains(stdout, "smtp_tls_CAfile = "+filepath.Join(base, "rel", fakesmtp.CACertFile)) {
		t.Errorf("-dir rel: exit %d, the path is not absolute:\n%s%s", code, stdout, stderr)
	}
}

// TestCACommandBadForms: what cannot be made or used fails (1) naming the
// file, and leaves what is there as it was; bad arguments are usage
// errors (2).
func TestCACommandBadForms(t *testing.T) {
	good := t.TempDir()
	if _, err := fakesmtp.CreateCA(good); err != nil {
		t.Fatal(err)
	}
	goodKey, _ := os.ReadFile(filepath.Join(good, fakesmtp.CAKeyFile))
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)

	corrupt := t.TempDir()
	os.WriteFile(filepath.Join(corrupt, fakesmtp.CACertFile), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(corrupt, fakesmtp.CAKeyFile), goodKey, 0o600)

	open := t.TempDir()
	if _, err := fakesmtp.CreateCA(open); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(open, fakesmtp.CAKeyFile), 0o644)

	halfDone := t.TempDir()
	os.WriteFile(filepath.Join(halfDone, fakesmtp.CAKeyFile), goodKey, 0o600)

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-dir", filepath.Join(file, "ca")}, exitFail, file},
		{[]string{"-dir", corrupt}, exitFail, filepath.Join(corrupt, fakesmtp.CACertFile) + ": no PEM CERTIFICATE"},
		{[]string{"-dir", open}, exitFail, "chmod 600 " + filepath.Join(open, fakesmtp.CAKeyFile)},
		{[]string{"-dir", halfDone}, exitFail, fakesmtp.CACertFile + " is missing"},
		{[]string{"-dir", good, "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"-bogus"}, exitUsage, "flag provided but not defined: -bogus"},
	} {
		code, _, stderr := runCLI(t, append([]string{"ca"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("mxsim ca %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(corrupt, fakesmtp.CACertFile)); string(b) != "garbage" {
		t.Error("mxsim ca replaced a corrupt CA")
	}
	if _, err := os.Stat(filepath.Join(halfDone, fakesmtp.CACertFile)); err == nil {
		t.Error("mxsim ca completed a half CA with a certificate of another key")
	}

	if os.Geteuid() != 0 {
		ro := t.TempDir()
		os.Chmod(ro, 0o500)
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
		code, _, stderr := runCLI(t, "ca", "-dir", filepath.Join(ro, "ca"))
		if code != exitFail || !strings.Contains(stderr, "permission denied") {
			t.Errorf("unwritable dir: exit %d, stderr %q", code, stderr)
		}
	}
}

// TestCAFlagBadForms: -ca on run, conformance and sandbox loads an
// existing CA or is a usage error naming the flag; it never creates one.
func TestCAFlagBadForms(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	notCA := t.TempDir()
	leaf, key := leafPEM(t)
	os.WriteFile(filepath.Join(notCA, fakesmtp.CACertFile), leaf, 0o644)
	os.WriteFile(filepath.Join(notCA, fakesmtp.CAKeyFile), key, 0o600)
	for _, cmd := range [][]string{{"run"}, {"conformance"}, {"sandbox", "--listen", "127.0.0.1:0"}} {
		for _, c := range []struct{ dir, want string }{
			{missing, "-ca " + missing + ": no CA there; create it first with: mxsim ca -dir " + missing},
			{notCA, "-ca " + notCA + ": fakesmtp: ca: unusable CA: " + filepath.Join(notCA, fakesmtp.CACertFile) + ": not a CA certificate"},
		} {
			args := append(append([]string{}, cmd...), "-ca", c.dir)
			if cmd[0] == "run" {
				args = append(args, scenarioDir)
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("mxsim %q: exit %d, stderr %q; want %d and %q", args, code, stderr, exitUsage, c.want)
			}
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("mxsim %s -ca created %s", cmd[0], missing)
		}
		_, help, _ := runCLI(t, cmd[0], "-h")
		if !strings.Contains(help, "-ca DIR") || !strings.Contains(help, "mxsim ca -dir DIR") {
			t.Errorf("mxsim %s -h does not explain -ca:\n%s", cmd[0], help)
		}
	}
}

// TestCAFlagRun: mxsim run and sandbox with -ca sign the hosts'
// certificates with that CA (the reference relay trusts the network's CA,
// so the run passes; the sandbox says which CA it uses).
func TestCAFlagRun(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "ca", "-dir", dir); code != exitOK {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "conformance", "-ca", dir, "-tls", "verify", "-cases", "TLS-004")
	if code != exitOK || !strings.Contains(stdout, "1 passed") {
		t.Errorf("conformance -ca: exit %d\n%s%s", code, stdout, stderr)
	}
	rs := startSandbox(t, "--listen", "127.0.0.1:0", "--ca", dir)
	if out := strings.Join(rs.head, "\n"); !strings.Contains(out, "certificates: signed by the test CA in "+dir) {
		t.Errorf("sandbox banner does not name the CA:\n%s", out)
	}
	if code, _ := rs.stop(); code != exitOK {
		t.Errorf("sandbox: exit %d, stderr %q", code, rs.stderr.String())
	}
}

// leafPEM returns a server certificate (not a CA's) and its key, in PEM.
func leafPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := fakesmtp.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(fakesmtp.CertValid, "mx1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
