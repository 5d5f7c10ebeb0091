package mtamatrix

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/exim"
	"github.com/mxsim/mxsim/harness/opensmtpd"
	"github.com/mxsim/mxsim/harness/postfix"
	"github.com/mxsim/mxsim/internal/mtactr"
	"github.com/mxsim/mxsim/scenarios"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Docker client's idle HTTP connections close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// recipeMTA is an MTA with an adapter and a recipe (docs/mtas/NAME).
type recipeMTA struct {
	name     string
	imageEnv string // the recipe's variable that chooses the image
	// open starts the adapter's container on a random /24.
	open func(ctx context.Context) (adapterMTA, error)
}

// adapterMTA is what the test needs of an adapter.
type adapterMTA interface {
	Version() string
	Image() string
	Plan() harness.Plan
	Relay(scenarios.Relay) (harness.Relay, error)
	Close() error
}

var recipeMTAs = []recipeMTA{
	{"postfix", "MXSIM_POSTFIX_IMAGE", func(ctx context.Context) (adapterMTA, error) {
		return postfix.New(ctx, postfix.Config{BuildLog: os.Stderr})
	}},
	{"exim", "MXSIM_EXIM_IMAGE", func(ctx context.Context) (adapterMTA, error) {
		return exim.New(ctx, exim.Config{BuildLog: os.Stderr})
	}},
	{"opensmtpd", "MXSIM_OPENSMTPD_IMAGE", func(ctx context.Context) (adapterMTA, error) {
		return opensmtpd.New(ctx, opensmtpd.Config{BuildLog: os.Stderr})
	}},
}

// TestRecipeMatchesAdapter runs a few cases, for Postfix, Exim and
// OpenSMTPD, through the adapter and through docs/mtas/NAME/run.sh as an
// external relay (one long-running container, the documented
// configuration and profile, the recipe's flush and reset), and requires
// the same verdicts: the check `make matrix` makes for the whole library,
// small enough for make test. The cases cover recognising itself as the
// best MX (MX-011), a retry after a flush (RETRY-003), refusing a
// stranger (RELAY-001) and a bounce (MX-002).
func TestRecipeMatchesAdapter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := mtactr.CheckDocker(ctx); err != nil {
		if mtactr.DockerRequired() {
			t.Fatalf("Docker is required here (CI or MXSIM_REQUIRE_DOCKER): %v", err)
		}
		t.Skipf("no Docker engine, the recipes are not tested (set CI=true or MXSIM_REQUIRE_DOCKER=1 to make this a failure): %v", err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		if mtactr.DockerRequired() {
			t.Fatalf("the recipes need the docker CLI: %v", err)
		}
		t.Skipf("no docker CLI, the recipes are not tested: %v", err)
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	all, err := scenarios.LoadConformance(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := scenarios.SelectCases(all, "MX-002", "MX-011", "RELAY-001", "RETRY-003")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range recipeMTAs {
		t.Run(m.name, func(t *testing.T) { recipeMatchesAdapter(ctx, t, m, cases) })
	}
}

func recipeMatchesAdapter(ctx context.Context, t *testing.T, m recipeMTA, cases []*scenarios.Scenario) {
	// The adapter, on a random /24.
	a, err := m.open(ctx)
	if err != nil {
		t.Fatalf("%s adapter: %v", m.name, err)
	}
	adapter := harness.Conformance(ctx, cases, harness.Profile{}, harness.ConformanceOptions{
		Relay:     func(sc *scenarios.Scenario) (harness.Relay, error) { return a.Relay(sc.Relay) },
		Reference: true, Plan: a.Plan(), RelayName: m.name + " " + a.Version(),
	})
	image := a.Image()
	if err := a.Close(); err != nil {
		t.Fatalf("close the adapter's container: %v", err)
	}

	// The recipe, on a /24 of its own.
	root := repoRoot(t)
	dir := filepath.Join(root, "docs", "mtas", m.name)
	subnet, err := mtactr.Subnet(netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	dns := mtactr.At(subnet, 53)
	if err := mtactr.CheckPort53(dns); err != nil {
		t.Skipf("port 53: %v", err)
	}
	port, err := mtactr.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	name := "mxsim-ext-" + m.name + "-test-" + strconv.Itoa(port)
	recipe := "MXSIM_EXT_NAME=" + name + " " + m.imageEnv + "=" + image + " bash " + filepath.Join(dir, "run.sh")
	sh := func(args string) (string, error) {
		// Not ctx: the cleanup's stop runs after it is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "sh", "-c", recipe+" "+args).CombinedOutput()
		return string(out), err
	}
	if out, err := sh("start " + dns.String() + " " + strconv.Itoa(port)); err != nil {
		sh("stop")
		t.Fatalf("run.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := sh("stop"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("run.sh stop: %v\n%s", err, out)
		}
	})
	profileFile := filepath.Join(dir, "profile.yaml")
	data, err := os.ReadFile(profileFile)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := harness.ParseProfile(profileFile, data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := harness.ExternalConfig{Submit: "127.0.0.1:" + strconv.Itoa(port), FlushCmd: recipe + " flush", ResetCmd: recipe + " reset"}
	external := harness.Conformance(ctx, cases, profile, harness.ConformanceOptions{
		Relay:     func(*scenarios.Scenario) (harness.Relay, error) { return harness.External(cfg), nil },
		Plan:      harness.Plan{Subnet: subnet, DNSPort: 53, SMTPPort: 25},
		RelayName: "external " + m.name,
	})

	d := Build([]Run{
		{Kind: m.name, Mode: Adapter, Status: Ran, Results: adapter},
		{Kind: m.name, Mode: External, Status: Ran, Results: external},
	}, map[Key]string{})
	for _, r := range external {
		if r.Verdict == "not-applicable" {
			t.Errorf("%s is not applicable through the recipe: %s", r.ID, r.Reason)
		}
	}
	if len(d.Differences) > 0 {
		var lines []string
		for _, df := range d.Differences {
			lines = append(lines, df.Case+": adapter "+df.Adapter.Label()+" ("+df.AdapterWhy+"), external "+df.External.Label()+" ("+df.ExternalWhy+")")
		}
		t.Errorf("the recipe's verdicts differ from the adapter's:\n%s", strings.Join(lines, "\n"))
	}
	for _, r := range adapter {
		if r.Verdict == "error" || r.Verdict == "not-applicable" {
			t.Errorf("adapter: %s %s: %s", r.ID, r.Verdict, r.Reason)
		}
	}
}
