// Package postfiximage builds the container image that runs a real Postfix
// as the relay under test. No prebuilt image is downloaded from anywhere:
//
//  1. Find looks for an image tagged mxsim/postfix:VERSION in the local
//     Docker engine; Ensure returns it when there is one (unless forced);
//  2. otherwise the method is chosen: a Dockerfile FROM debian:bookworm-slim
//     with Postfix from Debian's packages where an image registry is
//     reachable, else a root file system made by debootstrap from the
//     machine's own apt sources (the mirror is read from
//     /etc/apt/sources.list*, never written anywhere);
//  3. the Postfix version is read from the result (the build's output, or
//     the root file system's dpkg database) and the image is tagged
//     mxsim/postfix:VERSION, so the tag carries the version;
//  4. for debootstrap the root file system is streamed through tar into
//     the engine's import API (what `docker import` does) and removed.
package postfiximage

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

// Repository is the image repository; tags are Postfix versions.
const Repository = "mxsim/postfix"

// DefaultSuite is the Debian release whose Postfix is installed (3.7).
const DefaultSuite = "bookworm"

// Packages installed into the image besides the base system.
const Packages = "postfix,ca-certificates,libsasl2-modules"

// Method says how an image is built.
type Method string

// Build methods.
const (
	Auto        Method = ""            // Dockerfile when a registry answers, else debootstrap
	Dockerfile  Method = "dockerfile"  // FROM debian:bookworm-slim + apt-get install postfix
	Debootstrap Method = "debootstrap" // debootstrap + docker import, no registry needed
)

// Errors returned by this package; they are wrapped with details.
var (
	// ErrNoDocker means no Docker engine answered.
	ErrNoDocker = errors.New("no Docker engine")
	// ErrBuild means the image could not be built.
	ErrBuild = errors.New("postfix image build failed")
	// ErrOptions means the Options are not valid.
	ErrOptions = errors.New("bad postfix image options")
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
		return fmt.Errorf("postfiximage: %w: method %q: want dockerfile or debootstrap (empty: choose)", ErrOptions, o.Method)
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(o.Suite) {
		return fmt.Errorf("postfiximage: %w: suite %q: want a Debian release name such as bookworm", ErrOptions, o.Suite)
	}
	if o.Mirror != "" && !strings.HasPrefix(o.Mirror, "http://") && !strings.HasPrefix(o.Mirror, "https://") && !strings.HasPrefix(o.Mirror, "file:/") {
		return fmt.Errorf("postfiximage: %w: mirror %q: want an http(s):// or file:/ URL", ErrOptions, o.Mirror)
	}
	if o.PullTimeout < 0 {
		return fmt.Errorf("postfiximage: %w: pull timeout %v is negative", ErrOptions, o.PullTimeout)
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
		return nil, fmt.Errorf("postfiximage: %w: %w", ErrNoDocker, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("postfiximage: %w at %s: %w (start dockerd, or set DOCKER_HOST)", ErrNoDocker, cli.DaemonHost(), err)
	}
	return cli, nil
}

// Find returns the newest mxsim/postfix:VERSION image in the engine, or ""
// when there is none.
func Find(ctx context.Context, cli *client.Client) (string, error) {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", Repository)})
	if err != nil {
		return "", fmt.Errorf("list images %s: %w", Repository, err)
	}
	var tags []string
	for _, img := range res.Items {
		for _, t := range img.RepoTags {
			if v, ok := strings.CutPrefix(t, Repository+":"); ok && versionRE.MatchString(v) {
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

var versionRE = regexp.MustCompile(`^\d+(\.\d+)*$`)

// versionLess compares two "repo:1.2.3" tags by version.
func versionLess(a, b string) bool {
	pa := strings.Split(a[strings.LastIndexByte(a, ':')+1:], ".")
	pb := strings.Split(b[strings.LastIndexByte(b, ':')+1:], ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// Ensure returns the tag of a Postfix image, building one when there is
// none (or when opts.Force is set).
func Ensure(ctx context.Context, opts Options) (string, error) {
	if err := opts.check(); err != nil {
		return "", err
	}
	cli, err := Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if !opts.Force {
		tag, err := Find(ctx, cli)
		if err != nil || tag != "" {
			return tag, err
		}
	}
	return Build(ctx, cli, opts)
}

// Build builds the image with the method opts choose and returns its tag.
func Build(ctx context.Context, cli *client.Client, opts Options) (string, error) {
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
		tag, err = buildDockerfile(ctx, cli, opts)
	} else {
		tag, err = buildDebootstrap(ctx, cli, opts)
	}
	if err != nil {
		return "", fmt.Errorf("postfiximage: %w (%s): %w", ErrBuild, method, err)
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

// DockerfileText is the Dockerfile used where a registry is reachable.
func DockerfileText(suite string) string {
	return "FROM " + baseImage(suite) + "\n" +
		"RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " +
		strings.ReplaceAll(Packages, ",", " ") + " && rm -rf /var/lib/apt/lists/*\n" +
		"RUN echo \"mxsim-postfix-version=$(postconf -dh mail_version)\"\n" +
		"CMD [\"postfix\", \"start-fg\"]\n"
}

func buildDockerfile(ctx context.Context, cli *client.Client, opts Options) (string, error) {
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	df := []byte(DockerfileText(opts.Suite))
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return "", err
	}
	tw.Write(df)
	if err := tw.Close(); err != nil {
		return "", err
	}
	tmp := Repository + ":building"
	res, err := cli.ImageBuild(ctx, &ctxTar, client.ImageBuildOptions{Tags: []string{tmp}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	var version string
	if err := readStream(res.Body, opts.Log, func(line string) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "mxsim-postfix-version="); ok && versionRE.MatchString(v) {
			version = v
		}
	}); err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	if version == "" {
		return "", errors.New("docker build: the Postfix version was not printed")
	}
	tag := Repository + ":" + version
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

func buildDebootstrap(ctx context.Context, cli *client.Client, opts Options) (string, error) {
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
	dir, err := os.MkdirTemp("", "mxsim-postfix-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(opts.Log, "debootstrap %s into %s (about a minute)\n", opts.Suite, dir)
	cmd := exec.CommandContext(ctx, bin, "--variant=minbase", "--include="+Packages, opts.Suite, dir, mirror)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, opts.Log)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("debootstrap %s %s: %w: %s", opts.Suite, mirror, err, lastLines(out.String(), 5))
	}
	version, err := dpkgVersion(filepath.Join(dir, "var/lib/dpkg/status"), "postfix")
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
	tag := Repository + ":" + version
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
		Message: "mxsim: debootstrap " + opts.Suite + " with " + Packages,
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			`CMD ["postfix", "start-fg"]`,
			"LABEL org.mxsim.postfix-version=" + version,
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
			v = strings.TrimSpace(v)
			if _, after, ok := strings.Cut(v, ":"); ok { // epoch
				v = after
			}
			if i := strings.LastIndexByte(v, '-'); i > 0 {
				v = v[:i]
			}
			if !versionRE.MatchString(v) {
				return "", fmt.Errorf("package %s: version %q is not numeric", pkg, v)
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("package %s is not installed", pkg)
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
