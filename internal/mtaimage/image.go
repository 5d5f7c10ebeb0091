// Package mtaimage builds the container images that run a real MTA
// (Postfix, Exim, OpenSMTPD) as the relay under test. No prebuilt image is
// downloaded from anywhere:
//
//  1. Find looks for an image tagged mxsim/NAME:VERSION-rREV in the local
//     Docker engine; Ensure returns it when there is one (unless forced);
//  2. otherwise the method is chosen: a Dockerfile FROM debian:bookworm-slim
//     with the MTA from Debian's packages where an image registry is
//     reachable, else a root file system made by debootstrap from the
//     machine's own apt sources (the mirror is read from
//     /etc/apt/sources.list*, never written anywhere);
//  3. the MTA's version is read from the result (the build's output, or
//     the root file system's dpkg database) and the image is tagged
//     mxsim/NAME:VERSION-rREV, so the tag carries the version, and REV
//     the revision of the package list (an image built with an older
//     list is not used);
//  4. for debootstrap the root file system is streamed through tar into
//     the engine's import API (what `docker import` does) and removed.
package mtaimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// DefaultSuite is the Debian release whose MTAs are installed (Postfix
// 3.7, Exim 4.96, OpenSMTPD 6.8).
const DefaultSuite = "bookworm"

// MTA is a mail server this package builds an image of.
type MTA struct {
	Name     string   // "postfix": the image is mxsim/postfix:VERSION-rREV
	Title    string   // "Postfix", for messages
	Package  string   // the Debian package whose upstream version tags the image
	Packages []string // Debian packages installed besides the base system
	Rev      int      // revision of Packages; raise it when they change
}

// The MTAs this package knows.
var (
	Postfix = MTA{Name: "postfix", Title: "Postfix", Package: "postfix", Rev: 2,
		// Cyrus SASL (sasl2-bin: saslpasswd2, sasldb) gives Postfix's
		// smtpd AUTH for the submission cases. Rev 2: OpenDKIM (a
		// signing milter) and postfix-mta-sts-resolver (an MTA-STS
		// policy map); python3-cffi-backend is listed because
		// debootstrap cannot resolve python3-pycares's virtual
		// dependency on it.
		Packages: []string{"postfix", "ca-certificates", "libsasl2-modules", "sasl2-bin",
			"opendkim", "opendkim-tools", "postfix-mta-sts-resolver", "python3-cffi-backend"}}
	Exim = MTA{Name: "exim", Title: "Exim", Package: "exim4-daemon-light", Rev: 1,
		Packages: []string{"exim4-daemon-light", "ca-certificates"}}
	OpenSMTPD = MTA{Name: "opensmtpd", Title: "OpenSMTPD", Package: "opensmtpd", Rev: 1,
		Packages: []string{"opensmtpd", "ca-certificates"}}
)

// MTAs returns the MTAs this package knows, by name.
func MTAs() []MTA { return []MTA{Postfix, Exim, OpenSMTPD} }

// Lookup returns the MTA of that name.
func Lookup(name string) (MTA, error) {
	var names []string
	for _, m := range MTAs() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return MTA{}, fmt.Errorf("mtaimage: %w: no image named %q (want one of %s)", ErrOptions, name, strings.Join(names, ", "))
}

// Repository is the image repository, "mxsim/postfix".
func (m MTA) Repository() string { return "mxsim/" + m.Name }

// tag is the image tag for an upstream version.
func (m MTA) tag(version string) string {
	return m.Repository() + ":" + version + "-r" + strconv.Itoa(m.Rev)
}

// Method says how an image is built.
type Method string

// Build methods.
const (
	Auto        Method = ""            // Dockerfile when a registry answers, else debootstrap
	Dockerfile  Method = "dockerfile"  // FROM debian:bookworm-slim + apt-get install
	Debootstrap Method = "debootstrap" // debootstrap + docker import, no registry needed
)

// Errors returned by this package; they are wrapped with details.
var (
	// ErrNoDocker means no Docker engine answered.
	ErrNoDocker = errors.New("no Docker engine")
	// ErrBuild means the image could not be built.
	ErrBuild = errors.New("image build failed")
	// ErrOptions means the Options are not valid.
	ErrOptions = errors.New("bad image options")
)

// Options say how to find or build the image.
type Options struct {
	Method Method    // how to build; Auto picks
	Suite  string    // Debian release; default DefaultSuite
	Mirror string    // debootstrap mirror; default: read from the machine's apt sources
	Force  bool      // build even when an image exists
	Log    io.Writer // build progress; nil: discarded
	// PullTimeout bounds the probe for a reachable registry (Auto);
	// default 20s.
	PullTimeout time.Duration
	// SourcesDir is where apt sources are read from; default "/etc/apt".
	SourcesDir string
}

func (o *Options) check() error {
	switch o.Method {
	case Auto, Dockerfile, Debootstrap:
	default:
		return fmt.Errorf("mtaimage: %w: method %q: want dockerfile or debootstrap (empty: choose)", ErrOptions, o.Method)
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(o.Suite) {
		return fmt.Errorf("mtaimage: %w: suite %q: want a Debian release name such as bookworm", ErrOptions, o.Suite)
	}
	if o.Mirror != "" && !strings.HasPrefix(o.Mirror, "http://") && !strings.HasPrefix(o.Mirror, "https://") && !strings.HasPrefix(o.Mirror, "file:/") {
		return fmt.Errorf("mtaimage: %w: mirror %q: want an http(s):// or file:/ URL", ErrOptions, o.Mirror)
	}
	if o.PullTimeout < 0 {
		return fmt.Errorf("mtaimage: %w: pull timeout %v is negative", ErrOptions, o.PullTimeout)
	}
	if o.PullTimeout == 0 {
		o.PullTimeout = 20 * time.Second
	}
	if o.SourcesDir == "" {
		o.SourcesDir = "/etc/apt"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// Client returns a client of the Docker engine named by the environment
// (DOCKER_HOST, default unix:///var/run/docker.sock), after checking that
// it answers. The caller closes it.
func Client(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("mtaimage: %w: %w", ErrNoDocker, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("mtaimage: %w at %s: %w (start dockerd, or set DOCKER_HOST)", ErrNoDocker, cli.DaemonHost(), err)
	}
	return cli, nil
}

// Find returns the newest mxsim/NAME:VERSION-rREV image of m in the
// engine, or "" when there is none.
func Find(ctx context.Context, cli *client.Client, m MTA) (string, error) {
	repo := m.Repository()
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		return "", fmt.Errorf("list images %s: %w", repo, err)
	}
	rev := "-r" + strconv.Itoa(m.Rev)
	var tags []string
	for _, img := range res.Items {
		for _, t := range img.RepoTags {
			v, ok := strings.CutPrefix(t, repo+":")
			if v, found := strings.CutSuffix(v, rev); ok && found && versionRE.MatchString(v) {
				tags = append(tags, t)
			}
		}
	}
	if len(tags) == 0 {
		return "", nil
	}
	sort.Slice(tags, func(i, j int) bool { return versionLess(tags[j], tags[i]) })
	return tags[0], nil
}

// versionRE matches upstream versions: "3.7.11", "4.96", "6.8.0p2".
var versionRE = regexp.MustCompile(`^\d+(\.\d+)*(p\d+)?$`)

// versionLess compares two "repo:1.2.3-rN" tags by version.
func versionLess(a, b string) bool {
	num := func(t string) []string {
		t = t[strings.LastIndexByte(t, ':')+1:]
		if i := strings.LastIndex(t, "-r"); i > 0 {
			t = t[:i]
		}
		return strings.FieldsFunc(t, func(r rune) bool { return r == '.' || r == 'p' })
	}
	pa, pb := num(a), num(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// Ensure returns the tag of an image of m, building one when there is
// none (or when opts.Force is set).
func Ensure(ctx context.Context, m MTA, opts Options) (string, error) {
	if err := opts.check(); err != nil {
		return "", err
	}
	cli, err := Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if !opts.Force {
		tag, err := Find(ctx, cli, m)
		if err != nil || tag != "" {
			return tag, err
		}
	}
	return Build(ctx, cli, m, opts)
}

// Build builds an image of m with the method opts choose and returns its
// tag.
func Build(ctx context.Context, cli *client.Client, m MTA, opts Options) (string, error) {
	if err := opts.check(); err != nil {
		return "", err
	}
	method := opts.Method
	if method == Auto {
		method = Debootstrap
		if err := probeRegistry(ctx, cli, opts); err == nil {
			method = Dockerfile
		} else {
			fmt.Fprintf(opts.Log, "no image registry reachable (%v): building with debootstrap\n", err)
		}
	}
	var tag string
	var err error
	if method == Dockerfile {
		tag, err = buildDockerfile(ctx, cli, m, opts)
	} else {
		tag, err = buildDebootstrap(ctx, cli, m, opts)
	}
	if err != nil {
		return "", fmt.Errorf("mtaimage: %s %w (%s): %w", m.Name, ErrBuild, method, err)
	}
	fmt.Fprintf(opts.Log, "built %s\n", tag)
	return tag, nil
}

// baseImage is the Dockerfile's base.
func baseImage(suite string) string { return "debian:" + suite + "-slim" }

// probeRegistry succeeds when the base image is present or can be pulled.
func probeRegistry(ctx context.Context, cli *client.Client, opts Options) error {
	base := baseImage(opts.Suite)
	if _, err := cli.ImageInspect(ctx, base); err == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, opts.PullTimeout)
	defer cancel()
	resp, err := cli.ImagePull(pctx, base, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(pctx)
}

// DockerfileText is the Dockerfile of m used where a registry is
// reachable. Its build prints the package's Debian version.
func DockerfileText(m MTA, suite string) string {
	return "FROM " + baseImage(suite) + "\n" +
		"RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " +
		strings.Join(m.Packages, " ") + " && rm -rf /var/lib/apt/lists/*\n" +
		"RUN echo \"mxsim-version=$(dpkg-query -W -f='${Version}' " + m.Package + ")\"\n" +
		"LABEL org.mxsim.mta=" + m.Name + "\n"
}

func buildDockerfile(ctx context.Context, cli *client.Client, m MTA, opts Options) (string, error) {
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	df := []byte(DockerfileText(m, opts.Suite))
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return "", err
	}
	tw.Write(df)
	if err := tw.Close(); err != nil {
		return "", err
	}
	tmp := m.Repository() + ":building"
	res, err := cli.ImageBuild(ctx, &ctxTar, client.ImageBuildOptions{Tags: []string{tmp}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	var version string
	if err := readStream(res.Body, opts.Log, func(line string) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "mxsim-version="); ok {
			if v, err := upstream(v); err == nil {
				version = v
			}
		}
	}); err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	if version == "" {
		return "", fmt.Errorf("docker build: the version of %s was not printed", m.Package)
	}
	tag := m.tag(version)
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: tmp, Target: tag}); err != nil {
		return "", fmt.Errorf("tag %s: %w", tag, err)
	}
	cli.ImageRemove(ctx, tmp, client.ImageRemoveOptions{}) // drops the temporary name only
	return tag, nil
}

// readStream reads a JSON message stream of the engine, copying its text
// to log and each line to onLine; an error message ends it with an error.
func readStream(r io.Reader, log io.Writer, onLine func(string)) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		for _, s := range []string{m.Stream, m.Status} {
			if s == "" {
				continue
			}
			io.WriteString(log, s)
			if !strings.HasSuffix(s, "\n") {
				io.WriteString(log, "\n")
			}
			for _, l := range strings.Split(s, "\n") {
				onLine(l)
			}
		}
	}
}

func buildDebootstrap(ctx context.Context, cli *client.Client, m MTA, opts Options) (string, error) {
	mirror := opts.Mirror
	if mirror == "" {
		var err error
		if mirror, err = MirrorFromSources(opts.SourcesDir); err != nil {
			return "", err
		}
	}
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return "", fmt.Errorf("debootstrap not found (apt-get install debootstrap): %w", err)
	}
	if os.Geteuid() != 0 {
		return "", errors.New("debootstrap needs root")
	}
	dir, err := os.MkdirTemp("", "mxsim-"+m.Name+"-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	// It becomes the image's "/": MkdirTemp's 0700 would keep every user
	// but root out of the whole file system (Exim, run as user mail,
	// could not read /etc/passwd and fails to install).
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	// The base system first, then the MTA with apt-get in a chroot: a
	// package whose maintainer script needs a configured base (Exim's
	// exim4-config looks up the user mail through /etc/nsswitch.conf)
	// fails when debootstrap installs it in the same pass.
	fmt.Fprintf(opts.Log, "debootstrap %s into %s (about a minute)\n", opts.Suite, dir)
	cmd := exec.CommandContext(ctx, bin, "--variant=minbase", "--include=ca-certificates", opts.Suite, dir, mirror)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, opts.Log)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("debootstrap %s %s: %w: %s", opts.Suite, mirror, err, lastLines(out.String(), 5))
	}
	if err := chrootInstall(ctx, dir, m.Packages, opts.Log); err != nil {
		return "", err
	}
	version, err := dpkgVersion(filepath.Join(dir, "var/lib/dpkg/status"), m.Package)
	if err != nil {
		return "", err
	}
	// Downloaded packages and apt lists are not needed in the image.
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages"} {
		files, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, f := range files {
			os.Remove(f)
		}
	}
	tag := m.tag(version)
	tarCmd := exec.CommandContext(ctx, "tar", "-C", dir, "--numeric-owner", "-c", ".")
	stdout, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var tarErr bytes.Buffer
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		return "", fmt.Errorf("tar: %w", err)
	}
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: stdout, SourceName: "-"}, tag, client.ImageImportOptions{
		Message: "mxsim: debootstrap " + opts.Suite + " with " + strings.Join(m.Packages, ","),
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"LABEL org.mxsim.mta=" + m.Name,
		},
	})
	if err != nil {
		tarCmd.Process.Kill()
		tarCmd.Wait()
		return "", fmt.Errorf("docker import: %w", err)
	}
	serr := readStream(res, opts.Log, func(string) {})
	res.Close()
	io.Copy(io.Discard, stdout)
	if err := tarCmd.Wait(); err != nil {
		return "", fmt.Errorf("tar: %w: %s", err, lastLines(tarErr.String(), 3))
	}
	if serr != nil {
		return "", fmt.Errorf("docker import: %w", serr)
	}
	return tag, nil
}

// chrootInstall installs packages into the root file system dir with
// apt-get in a chroot, from the mirror debootstrap wrote into its
// sources.list. The machine's resolv.conf is lent for the download, and
// policy-rc.d keeps maintainer scripts from starting daemons; both are
// removed afterwards.
func chrootInstall(ctx context.Context, dir string, packages []string, log io.Writer) error {
	resolv := filepath.Join(dir, "etc/resolv.conf")
	policy := filepath.Join(dir, "usr/sbin/policy-rc.d")
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		os.Remove(resolv) // may be a dangling link
		if err := os.WriteFile(resolv, data, 0o644); err != nil {
			return fmt.Errorf("chroot resolv.conf: %w", err)
		}
		defer os.Remove(resolv)
	}
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return fmt.Errorf("chroot policy-rc.d: %w", err)
	}
	defer os.Remove(policy)
	fmt.Fprintf(log, "apt-get install %s in the chroot\n", strings.Join(packages, " "))
	cmd := exec.CommandContext(ctx, "chroot", dir, "sh", "-c",
		`apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean`, "sh")
	cmd.Args = append(cmd.Args, packages...)
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install %s in the chroot: %w: %s", strings.Join(packages, " "), err, lastLines(out.String(), 5))
	}
	return nil
}

// dpkgVersion returns the upstream version of pkg ("3.7.11") from a dpkg
// status file.
func dpkgVersion(statusFile, pkg string) (string, error) {
	f, err := os.Open(statusFile)
	if err != nil {
		return "", fmt.Errorf("read package database: %w", err)
	}
	defer f.Close()
	v, err := VersionFromStatus(f, pkg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", statusFile, err)
	}
	return v, nil
}

// VersionFromStatus reads a dpkg status file and returns the upstream
// version of pkg: "3.7.11-0+deb12u1" gives "3.7.11".
func VersionFromStatus(r io.Reader, pkg string) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	cur := ""
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "Package: "); ok {
			cur = strings.TrimSpace(p)
			continue
		}
		if v, ok := strings.CutPrefix(line, "Version: "); ok && cur == pkg {
			u, err := upstream(v)
			if err != nil {
				return "", fmt.Errorf("package %s: %w", pkg, err)
			}
			return u, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("package %s is not installed", pkg)
}

// upstream returns the upstream part of a Debian version:
// "1:3.7.11-0+deb12u1" gives "3.7.11".
func upstream(v string) (string, error) {
	v = strings.TrimSpace(v)
	if _, after, ok := strings.Cut(v, ":"); ok { // epoch
		v = after
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	if !versionRE.MatchString(v) {
		return "", fmt.Errorf("version %q is not numeric", v)
	}
	return v, nil
}

// MirrorFromSources returns the Debian mirror of the machine's apt sources
// under dir (sources.list and sources.list.d/*.list, *.sources): the first
// URI that is not a security or updates archive.
func MirrorFromSources(dir string) (string, error) {
	files := []string{filepath.Join(dir, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*"))
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		if !strings.HasSuffix(f, ".list") && !strings.HasSuffix(f, ".sources") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := mirrorIn(string(data)); m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror found in %s/sources.list*: give one with --mirror", dir)
}

// mirrorIn finds a Debian archive URI in one sources file, in one-line
// ("deb URI suite comp") or deb822 ("URIs: URI") form.
func mirrorIn(text string) string {
	ok := func(uri, suite string) bool {
		return (strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://")) &&
			strings.Contains(uri, "debian") && !strings.Contains(uri, "security") &&
			!strings.Contains(suite, "-") && suite != ""
	}
	// deb822 stanzas.
	for _, stanza := range strings.Split(text, "\n\n") {
		var uris, suites []string
		enabled := true
		for _, l := range strings.Split(stanza, "\n") {
			l = strings.TrimSpace(l)
			if v, found := strings.CutPrefix(l, "URIs:"); found {
				uris = strings.Fields(v)
			}
			if v, found := strings.CutPrefix(l, "Suites:"); found {
				suites = strings.Fields(v)
			}
			if v, found := strings.CutPrefix(l, "Enabled:"); found && strings.TrimSpace(v) == "no" {
				enabled = false
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" {
				i := 1
				if strings.HasPrefix(f[1], "[") { // options
					for i < len(f) && !strings.HasSuffix(f[i], "]") {
						i++
					}
					i++
				}
				if i+1 < len(f) && ok(f[i], f[i+1]) {
					return strings.TrimRight(f[i], "/")
				}
			}
		}
		if !enabled {
			continue
		}
		for _, u := range uris {
			for _, s := range suites {
				if ok(u, s) {
					return strings.TrimRight(u, "/")
				}
			}
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
