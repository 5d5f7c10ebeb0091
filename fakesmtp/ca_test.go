package fakesmtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestCAPersistentCreateLoad: a CA created in a directory loads again as
// the same CA, with private files, and its key is nowhere in what it
// hands out.
func TestCAPersistentCreateLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "ca")
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, CACertFile): 0o644, filepath.Join(dir, CAKeyFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	again, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() || len(ca.Fingerprint()) != 32*3-1 {
		t.Errorf("fingerprints %s and %s", ca.Fingerprint(), again.Fingerprint())
	}
	if !again.Certificate().IsCA || time.Until(again.Certificate().NotAfter) < 9*365*24*time.Hour {
		t.Errorf("certificate: CA %v, not after %v", again.Certificate().IsCA, again.Certificate().NotAfter)
	}
	if strings.Contains(string(again.PEM()), "PRIVATE") {
		t.Error("PEM() holds the private key")
	}
	if _, err := CreateCA(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateCA over an existing CA: %v, want fs.ErrExist", err)
	}
}

// TestCAPersistentIssue: the hosts' certificates of a loaded CA verify
// against the CA as another process would load it; wrong-name, expired
// and self-signed do not.
func TestCAPersistentIssue(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	data, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil || !pool.AppendCertsFromPEM(data) {
		t.Fatalf("read %s: %v", CACertFile, err)
	}
	for _, kind := range []CertKind{CertValid, CertExpired, CertWrongName, CertSelfSigned} {
		cert, err := ca.Issue(kind, hostName)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		_, verr := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: hostName})
		if (verr == nil) != (kind == CertValid) {
			t.Errorf("%s: verify = %v", kind, verr)
		}
		selfSigned := cert.Leaf.Issuer.String() == cert.Leaf.Subject.String()
		if selfSigned != (kind == CertSelfSigned) {
			t.Errorf("%s: issuer %s", kind, cert.Leaf.Issuer)
		}
	}
}

// TestCAPersistentHostTLS: a host given a loaded CA serves, over STARTTLS
// on loopback, a certificate that a client trusting only ca.pem accepts.
func TestCAPersistentHostTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Config{Name: hostName, Addr: "127.0.0.1:0", CA: ca,
		Behavior: Behavior{TLS: TLS{StartTLS: TLSOffered, Cert: CertValid}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pool := x509.NewCertPool()
	data, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	pool.AppendCertsFromPEM(data)
	conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: pool, ServerName: hostName})
	if err != nil {
		conn.Close()
		t.Fatalf("STARTTLS trusting %s: %v", CACertFile, err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO after STARTTLS trusting %s: %v", CACertFile, err)
	}
}

// TestCAPersistentBadForms: every way a CA directory can be wrong is
// refused with the sentinel and the file's name.
func TestCAPersistentBadForms(t *testing.T) {
	good := t.TempDir()
	if _, err := CreateCA(good); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if _, err := CreateCA(other); err != nil {
		t.Fatal(err)
	}
	read := func(dir, name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	leafCert, leafKey := makeCert(t, false, time.Now().AddDate(1, 0, 0))
	expCert, expKey := makeCert(t, true, time.Now().Add(-time.Hour))

	for _, c := range []struct {
		name       string
		cert, key  []byte // nil: file absent
		keyMode    os.FileMode
		want       error
		wantInText []string
	}{
		{"empty dir", nil, nil, 0o600, ErrNoCA, []string{"no CA", CACertFile}},
		{"cert only", read(good, CACertFile), nil, 0o600, ErrBadCA, []string{CAKeyFile + " is missing"}},
		{"key only", nil, read(good, CAKeyFile), 0o600, ErrBadCA, []string{CACertFile + " is missing"}},
		{"corrupt cert", []byte("not a certificate"), read(good, CAKeyFile), 0o600, ErrBadCA, []string{CACertFile, "no PEM CERTIFICATE"}},
		{"truncated cert", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03}}), read(good, CAKeyFile), 0o600, ErrBadCA, []string{CACertFile, "x509"}},
		{"corrupt key", read(good, CACertFile), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600, ErrBadCA, []string{CAKeyFile}},
		{"key not pem", read(good, CACertFile), []byte("secret"), 0o600, ErrBadCA, []string{CAKeyFile, "no PEM private key"}},
		{"cert as key", read(good, CACertFile), read(good, CACertFile), 0o600, ErrBadCA, []string{CAKeyFile, `"CERTIFICATE" is not a private key`}},
		{"key of another CA", read(good, CACertFile), read(other, CAKeyFile), 0o600, ErrBadCA, []string{CAKeyFile, "not the key of"}},
		{"not a CA", leafCert, leafKey, 0o600, ErrBadCA, []string{CACertFile, "not a CA certificate"}},
		{"expired CA", expCert, expKey, 0o600, ErrBadCA, []string{CACertFile, "expired on", "mxsim ca"}},
		{"key readable by others", read(good, CACertFile), read(good, CAKeyFile), 0o644, ErrBadCA, []string{CAKeyFile, "mode 0644", "chmod 600"}},
		{"key readable by group", read(good, CACertFile), read(good, CAKeyFile), 0o640, ErrBadCA, []string{"chmod 600 "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.cert != nil {
				if err := os.WriteFile(filepath.Join(dir, CACertFile), c.cert, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.key != nil {
				p := filepath.Join(dir, CAKeyFile)
				if err := os.WriteFile(p, c.key, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, c.keyMode); err != nil {
					t.Fatal(err)
				}
			}
			ca, err := LoadCA(dir)
			if ca != nil || !errors.Is(err, c.want) {
				t.Fatalf("LoadCA: %v, %v; want %v", ca, err, c.want)
			}
			for _, w := range c.wantInText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), "AAAA") {
				t.Errorf("error shows the key: %q", err)
			}
		})
	}

	t.Run("missing dir", func(t *testing.T) {
		_, err := LoadCA(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, ErrNoCA) {
			t.Errorf("LoadCA: %v, want ErrNoCA", err)
		}
	})
	t.Run("dir under a file", func(t *testing.T) {
		// Unwritable for root too: the parent is a regular file.
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := CreateCA(filepath.Join(file, "ca")); err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("CreateCA under a file: %v, want an error naming it", err)
		}
	})
	t.Run("unwritable dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere")
		}
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(parent, 0o700) })
		for _, dir := range []string{parent, filepath.Join(parent, "ca")} {
			if _, err := CreateCA(dir); err == nil || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), parent) {
				t.Errorf("CreateCA(%s): %v, want a permission error naming it", dir, err)
			}
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("a failed CreateCA left %v", entries)
		}
	})
}

// makeCert returns a certificate valid until notAfter (a CA's or a
// server's) and its key, in PEM.
func makeCert(t *testing.T, isCA bool, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "test"},
		NotBefore:             notAfter.AddDate(-1, 0, 0),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestHostAltNames: a host published under more names (AltNames) serves a
// valid certificate that verifies for each of them, over STARTTLS; a
// wrong-name certificate still matches none; a bad alt name is refused.
func TestHostAltNames(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind   CertKind
		verify bool
	}{{CertValid, true}, {CertWrongName, false}} {
		h, err := NewHost(Config{Name: "mx1-b.example.test", AltNames: []string{"mx1.example.test."}, CA: ca,
			Behavior: Behavior{TLS: TLS{StartTLS: TLSOffered, Cert: c.kind}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"mx1.example.test", "mx1-b.example.test"} {
			conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: ca.Pool(), ServerName: name})
			if err == nil {
				err = cl.Hello("client.test") // the handshake completes here
			}
			if (err == nil) != c.verify {
				t.Errorf("%s certificate, STARTTLS verifying %s: err %v, want verified %v", c.kind, name, err, c.verify)
			}
			if cl != nil {
				cl.Close()
			} else {
				conn.Close()
			}
		}
		h.Close()
	}
	if _, err := NewHost(Config{Name: "mx1.example.test", AltNames: []string{"bad name"}}); err == nil || !strings.Contains(err.Error(), `alt_names: "bad name"`) {
		t.Errorf("bad alt name: %v", err)
	}
}
