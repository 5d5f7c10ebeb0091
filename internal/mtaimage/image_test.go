package mtaimage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

const status = `Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10

Package: postfix
Status: install ok installed
Priority: optional
Version: 3.7.11-0+deb12u1

Package: epochy
Version: 2:1.2.3-4
`

func TestVersionFromStatus(t *testing.T) {
	for pkg, want := range map[string]string{"postfix": "3.7.11", "libc6": "2.36", "epochy": "1.2.3"} {
		got, err := VersionFromStatus(strings.NewReader(status), pkg)
		if err != nil || got != want {
			t.Errorf("VersionFromStatus(%s) = %q, %v; want %q", pkg, got, err, want)
		}
	}
	if _, err := VersionFromStatus(strings.NewReader(status), "exim4"); err == nil || !strings.Contains(err.Error(), "exim4 is not installed") {
		t.Errorf("missing package: %v", err)
	}
}

func TestMirrorFromSources(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755)
	// deb822, with the security archive first, and a one-line file that
	// is not Debian's.
	os.WriteFile(filepath.Join(dir, "sources.list.d", "a-other.list"), []byte("deb https://packages.example.test/apt stable main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte(`Types: deb
URIs: http://mirror.example.test/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example.test/debian/
Suites: bookworm bookworm-updates
Components: main
`), 0o644)
	got, err := MirrorFromSources(dir)
	if err != nil || got != "http://mirror.example.test/debian" {
		t.Errorf("deb822: %q, %v", got, err)
	}

	one := t.TempDir()
	os.WriteFile(filepath.Join(one, "sources.list"), []byte("# comment\ndeb [arch=amd64] http://ftp.example.test/debian bookworm main\n"), 0o644)
	if got, err := MirrorFromSources(one); err != nil || got != "http://ftp.example.test/debian" {
		t.Errorf("one-line: %q, %v", got, err)
	}

	if _, err := MirrorFromSources(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--mirror") {
		t.Errorf("no sources: %v, want a hint to give --mirror", err)
	}
}

func TestBadOptions(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{Method: "podman"}, `method "podman"`},
		{Options{Suite: "Bookworm 12"}, `suite "Bookworm 12"`},
		{Options{Mirror: "ftp.example.test/debian"}, `mirror "ftp.example.test/debian"`},
		{Options{PullTimeout: -1}, "pull timeout"},
	}
	for _, c := range cases {
		_, err := Ensure(context.Background(), Postfix, c.opts)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Ensure(%+v): %v, want ErrOptions with %q", c.opts, err, c.want)
		}
	}
}

func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/none.sock")
	_, err := Ensure(context.Background(), Exim, Options{})
	if !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "none.sock") || !strings.Contains(err.Error(), "start dockerd") {
		t.Errorf("error %v: want ErrNoDocker naming the socket and what to do", err)
	}
}

func TestDockerfileText(t *testing.T) {
	df := DockerfileText(OpenSMTPD, "bookworm")
	for _, want := range []string{"FROM debian:bookworm-slim\n", "apt-get install", "opensmtpd ca-certificates", "mxsim-version=$(dpkg-query -W -f='${Version}' opensmtpd)"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
}

func TestReadStreamError(t *testing.T) {
	var lines []string
	err := readStream(strings.NewReader(`{"stream":"Step 1/3\n"}{"stream":"mxsim-version=3.7.11-0+deb12u1\n"}{"error":"apt-get failed","errorDetail":{"message":"apt-get failed"}}`),
		&strings.Builder{}, func(l string) { lines = append(lines, l) })
	if err == nil || err.Error() != "apt-get failed" {
		t.Errorf("error %v, want the stream's error", err)
	}
	if len(lines) < 2 || lines[2] != "mxsim-version=3.7.11-0+deb12u1" {
		t.Errorf("lines %q", lines)
	}
}

// TestFind needs Docker: in CI (CI=true or MXSIM_REQUIRE_DOCKER) the
// image, built by .ci/run, must be there.
func TestFind(t *testing.T) {
	cli, err := Client(context.Background())
	if err != nil {
		if os.Getenv("CI") == "" && os.Getenv("MXSIM_REQUIRE_DOCKER") == "" {
			t.Skipf("no Docker engine (set CI=true or MXSIM_REQUIRE_DOCKER=1 to make this a failure): %v", err)
		}
		t.Fatal(err)
	}
	defer cli.Close()
	tag, err := Find(context.Background(), cli, Postfix)
	if err != nil {
		t.Fatal(err)
	}
	repo := Postfix.Repository()
	if tag == "" {
		if os.Getenv("MXSIM_REQUIRE_DOCKER") != "" {
			t.Fatalf("no %s image: run mxsim image postfix", repo)
		}
		t.Skipf("no %s image yet", repo)
	}
	if !strings.HasPrefix(tag, repo+":3.") || !strings.HasSuffix(tag, "-r2") {
		t.Errorf("tag %q: want %s:VERSION-r2", tag, repo)
	}
}

func TestLookupAndVersions(t *testing.T) {
	for _, m := range MTAs() {
		got, err := Lookup(m.Name)
		if err != nil || got.Name != m.Name || got.Rev < 1 || !slices.Contains(got.Packages, got.Package) {
			t.Errorf("Lookup(%s) = %+v, %v", m.Name, got, err)
		}
	}
	if _, err := Lookup("sendmail"); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "postfix, exim, opensmtpd") {
		t.Errorf("Lookup(sendmail): %v, want ErrOptions listing the names", err)
	}
	for v, want := range map[string]string{"6.8.0p2-4": "6.8.0p2", "4.96-15+deb12u7": "4.96", "1:3.7.11-0+deb12u1": "3.7.11"} {
		if got, err := upstream(v); err != nil || got != want {
			t.Errorf("upstream(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, err := upstream("git-abc-1"); err == nil {
		t.Error("upstream(git-abc-1): want an error")
	}
	if !versionLess("mxsim/opensmtpd:6.8.0p2-r1", "mxsim/opensmtpd:6.8.1-r1") || versionLess("mxsim/postfix:3.10.1-r1", "mxsim/postfix:3.7.11-r1") {
		t.Error("versionLess orders tags wrongly")
	}
}
