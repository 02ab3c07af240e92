package deploy

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/fleetpulse/fleetpulse/infra/config"
)

// ---- docker-compose.yml ----

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Command     stringList   `yaml:"command"`
	Environment envMap       `yaml:"environment"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
	Ports       []string     `yaml:"ports"` // the short syntax: [host ip:]host port:container port
	Expose      []string     `yaml:"expose"`
	PullPolicy  string       `yaml:"pull_policy"`
	Profiles    []string     `yaml:"profiles"`
	Volumes     []string     `yaml:"volumes"`
}

type healthcheck struct {
	Test stringList `yaml:"test"`
}

// stringList is a compose command or healthcheck test: a list, or one
// string split on spaces.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = strings.Fields(n.Value)
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// envMap is a compose environment: a mapping (merge keys included) or a
// list of KEY=VALUE.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	m := map[string]string{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	} else if err := n.Decode(&m); err != nil {
		return err
	}
	*e = m
	return nil
}

// dependsOn is a compose depends_on: a list of names (condition
// service_started) or a mapping of name to condition.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := map[string]string{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			out[name] = "service_started"
		}
	} else {
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for name, c := range m {
			if c.Condition == "" {
				c.Condition = "service_started"
			}
			out[name] = c.Condition
		}
	}
	*d = out
	return nil
}

func loadCompose(t *testing.T, root string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// withDefaults replaces each ${VAR:-default} by its default, as compose
// does when VAR is unset, and each required ${VAR:?message} by VAR's name
// (compose would refuse to start without it).
func withDefaults(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if strings.HasSuffix(sub[2], "?") {
			return sub[1]
		}
		return sub[3]
	})
}

// ---- Dockerfile ----

type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

type stage struct {
	name, base string
	index      int
	instrs     []instruction
}

func loadDockerfile(t *testing.T, root string) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{index: len(stages)}
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					s.name = f[i+1]
					i++
				case s.base == "":
					s.base = f[i]
				}
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instrs = append(last.instrs, in)
	}
	for _, raw := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments, parser directives, comments inside continuations
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// shellWords splits a shell command on blanks outside quotes and drops the
// quotes; enough for a Dockerfile's RUN line, not a shell.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// goBuild is one `go build` found in a RUN instruction.
type goBuild struct {
	stage    stage
	env      map[string]string // VAR=value words before `go`, and the stage's ENV
	flags    []string
	output   string
	packages []string
}

var commandSeparator = regexp.MustCompile(`&&|\|\||;`)

func goBuilds(t *testing.T, stages []stage) []goBuild {
	t.Helper()
	var builds []goBuild
	for _, s := range stages {
		stageEnv := map[string]string{}
		for _, in := range s.instrs {
			if in.cmd == "ENV" {
				for _, w := range shellWords(in.args) {
					if k, v, ok := strings.Cut(w, "="); ok {
						stageEnv[k] = v
					}
				}
				if f := strings.Fields(in.args); len(f) == 2 && !strings.Contains(f[0], "=") {
					stageEnv[f[0]] = f[1] // legacy `ENV KEY value`
				}
			}
			if in.cmd != "RUN" {
				continue
			}
			for _, part := range commandSeparator.Split(in.args, -1) {
				words := shellWords(part)
				b := goBuild{stage: s, env: map[string]string{}}
				for k, v := range stageEnv {
					b.env[k] = v
				}
				i := 0
				for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
					k, v, _ := strings.Cut(words[i], "=")
					b.env[k] = v
				}
				if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
					continue
				}
				for j := i + 2; j < len(words); j++ {
					w := words[j]
					switch {
					case w == "-o" && j+1 < len(words):
						b.output = words[j+1]
						j++
					case strings.HasPrefix(w, "-o="):
						b.output = strings.TrimPrefix(w, "-o=")
					case strings.HasPrefix(w, "-"):
						b.flags = append(b.flags, w)
						if slices.Contains([]string{"-ldflags", "-gcflags", "-tags", "-mod", "-p"}, w) {
							j++ // its value is the next word
						}
					default:
						b.packages = append(b.packages, w)
					}
				}
				builds = append(builds, b)
			}
		}
	}
	return builds
}

// mainPackages returns the binary name of every directory under cmd/ that
// holds Go files, keyed by its path relative to root.
func mainPackages(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "cmd"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(p))
		out[filepath.ToSlash(dir)] = filepath.Base(filepath.Dir(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no Go packages under cmd/")
	}
	return out
}

// builtBinaries maps each path a go build writes in its stage to the
// binary's name.
func builtBinaries(t *testing.T, root string, b goBuild) map[string]string {
	t.Helper()
	const module = "github.com/fleetpulse/fleetpulse/"
	mains := mainPackages(t, root)
	var names []string
	for _, p := range b.packages {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, module), "./")
		if pattern, ok := strings.CutSuffix(rel, "/..."); ok {
			for dir, name := range mains {
				if dir == pattern || strings.HasPrefix(dir, pattern+"/") {
					names = append(names, name)
				}
			}
			continue
		}
		if name, ok := mains[path.Clean(rel)]; ok {
			names = append(names, name)
		}
	}
	out := map[string]string{}
	switch {
	case b.output == "":
		t.Errorf("Dockerfile: `go build %s` has no -o: where the binaries land is a guess", strings.Join(b.packages, " "))
	case strings.HasSuffix(b.output, "/") || len(names) > 1:
		for _, n := range names {
			out[path.Join(b.output, n)] = n
		}
	case len(names) == 1:
		out[path.Clean(b.output)] = names[0]
	}
	return out
}

// imageBinaries maps each binary path in the final stage to its name, from
// the final stage's COPY --from lines.
func imageBinaries(t *testing.T, final stage, built map[string]map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, in := range final.instrs {
		if in.cmd != "COPY" {
			continue
		}
		var from string
		var rest []string
		for _, w := range shellWords(in.args) {
			if v, ok := strings.CutPrefix(w, "--from="); ok {
				from = v
			} else if !strings.HasPrefix(w, "--") {
				rest = append(rest, w)
			}
		}
		binaries, ok := built[from]
		if !ok || len(rest) < 2 {
			continue
		}
		srcs, dest := rest[:len(rest)-1], rest[len(rest)-1]
		destIsDir := strings.HasSuffix(dest, "/") || len(srcs) > 1
		for _, src := range srcs {
			for p, name := range binaries {
				switch {
				case path.Clean(src) == p && destIsDir:
					out[path.Join(dest, name)] = name
				case path.Clean(src) == p:
					out[path.Clean(dest)] = path.Base(dest)
				case path.Clean(src) == path.Dir(p): // a whole output directory
					out[path.Join(dest, name)] = name
				}
			}
		}
	}
	return out
}

// ---- helpers ----

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func knownVars() map[string]bool {
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	return known
}

// runsBuiltImage says whether a service runs the image the Dockerfile
// builds: it builds it, or names the image the building service tags.
func (d deployment) runsBuiltImage(s service) bool {
	return s.Build != nil || (s.Image != "" && s.Image == d.builtImage)
}

// binaryIn resolves a command's first word against the image's binaries.
func binaryIn(image map[string]string, word string) (string, bool) {
	if !strings.Contains(word, "/") {
		word = "/usr/local/bin/" + word // on the image's PATH
	}
	name, ok := image[word]
	return name, ok
}

// the deployment as both files describe it, parsed once per test.
type deployment struct {
	root    string
	compose composeFile
	stages  []stage
	builds  []goBuild
	image   map[string]string // binary path in the final stage -> name
	// builtImage is the name the service that builds the Dockerfile gives
	// its image ("" when none names it).
	builtImage string
}

func load(t *testing.T) deployment {
	t.Helper()
	d := deployment{root: repoRoot(t)}
	d.compose = loadCompose(t, d.root)
	d.stages = loadDockerfile(t, d.root)
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d FROM lines, want a multi-stage build (>= 2)", len(d.stages))
	}
	d.builds = goBuilds(t, d.stages)
	if len(d.builds) == 0 {
		t.Fatal("Dockerfile runs no `go build`")
	}
	built := map[string]map[string]string{}
	for _, b := range d.builds {
		for _, key := range []string{b.stage.name, fmt.Sprint(b.stage.index)} {
			if key == "" {
				continue
			}
			if built[key] == nil {
				built[key] = map[string]string{}
			}
			for p, n := range builtBinaries(t, d.root, b) {
				built[key][p] = n
			}
		}
	}
	d.image = imageBinaries(t, d.stages[len(d.stages)-1], built)
	for _, s := range d.compose.Services {
		if s.Build != nil {
			d.builtImage = s.Image
		}
	}
	return d
}

// ---- tests ----

func TestDockerfile_BuildsEveryBinaryStaticallyAndShipsThemInASmallImage(t *testing.T) {
	d := load(t)

	t.Run("the build stage uses go.mod's Go version", func(t *testing.T) {
		mod, err := os.ReadFile(filepath.Join(d.root, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
		if m == nil {
			t.Fatal("go.mod has no go directive")
		}
		want := "golang:" + string(m[1])
		for _, b := range d.builds {
			if b.stage.base != want && !strings.HasPrefix(b.stage.base, want+".") && !strings.HasPrefix(b.stage.base, want+"-") {
				t.Errorf("go build runs FROM %s, want %s (go.mod says go %s)", b.stage.base, want, m[1])
			}
		}
	})

	t.Run("static, reproducible builds", func(t *testing.T) {
		for _, b := range d.builds {
			if b.env["CGO_ENABLED"] != "0" {
				t.Errorf("go build %s: CGO_ENABLED=%q, want 0 (the runtime image has no libc)", strings.Join(b.packages, " "), b.env["CGO_ENABLED"])
			}
			if !slices.Contains(b.flags, "-trimpath") {
				t.Errorf("go build %s: no -trimpath", strings.Join(b.packages, " "))
			}
		}
	})

	t.Run("every package under cmd/ is built and copied into the final stage", func(t *testing.T) {
		for dir, name := range mainPackages(t, d.root) {
			found := false
			for _, n := range d.image {
				found = found || n == name
			}
			if !found {
				t.Errorf("%s: binary %s is not in the final image (not built, or not copied from the build stage)", dir, name)
			}
		}
		for _, name := range []string{"command-api", "projector", "read-api", "fleetpulse", "healthcheck"} {
			if _, ok := d.image["/usr/local/bin/"+name]; !ok {
				t.Errorf("final stage has no /usr/local/bin/%s; it has %v", name, keys(d.image))
			}
		}
	})

	t.Run("the final stage is not the build image", func(t *testing.T) {
		final := d.stages[len(d.stages)-1]
		if strings.HasPrefix(final.base, "golang") {
			t.Errorf("final stage is FROM %s: the runtime image should not hold the toolchain", final.base)
		}
	})
}

func TestCompose_ServicesEnvironmentAndStartOrder(t *testing.T) {
	d := load(t)
	services := d.compose.Services
	known := knownVars()

	for _, name := range []string{"eventstore", "postgres", "migrate", "command-api", "projector", "read-api"} {
		if _, ok := services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q", name)
		}
	}

	t.Run("built services use only variables infra/config reads", func(t *testing.T) {
		for name, s := range services {
			if !d.runsBuiltImage(s) {
				continue
			}
			for k := range s.Environment {
				if !known[k] {
					t.Errorf("%s: %s is not read by infra/config (config.Vars)", name, k)
				}
			}
		}
	})

	t.Run("every binary a service runs is in the image", func(t *testing.T) {
		for name, s := range services {
			if !d.runsBuiltImage(s) {
				continue
			}
			if len(s.Command) == 0 {
				t.Errorf("%s: no command: the image's default only prints help", name)
				continue
			}
			if _, ok := binaryIn(d.image, s.Command[0]); !ok {
				t.Errorf("%s runs %s, which the Dockerfile does not put in the image (%v)", name, s.Command[0], keys(d.image))
			}
			if h := s.Healthcheck; h != nil && len(h.Test) > 1 && h.Test[0] == "CMD" {
				if _, ok := binaryIn(d.image, h.Test[1]); !ok {
					t.Errorf("%s: health check runs %s, which is not in the image", name, h.Test[1])
				}
			}
		}
	})

	t.Run("start order refers to services that exist, with real conditions", func(t *testing.T) {
		for name, s := range services {
			for dep, cond := range s.DependsOn {
				target, ok := services[dep]
				switch {
				case !ok:
					t.Errorf("%s depends on %s, which is not a service", name, dep)
				case cond == "service_healthy" && target.Healthcheck == nil:
					t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, cond):
					t.Errorf("%s depends on %s with unknown condition %q", name, dep, cond)
				}
			}
		}
	})

	t.Run("the demo simulator starts only with its profile", func(t *testing.T) {
		s, ok := services["simulator"]
		if !ok {
			t.Skip("no simulator service")
		}
		if !slices.Contains(s.Profiles, "demo") {
			t.Errorf("simulator profiles %v, want demo", s.Profiles)
		}
		if s.Environment["FLEETPULSE_ADMIN_TOKEN"] == "" {
			t.Error("simulator has no FLEETPULSE_ADMIN_TOKEN: it cannot register devices")
		}
	})

	apps := []struct {
		name, addrVar, port string
		published           bool              // on the host (only the APIs), else on the compose network only
		needs               []string          // variables beyond the shared ones
		dependsOn           map[string]string // service -> condition
	}{
		{"command-api", "FLEETPULSE_COMMAND_ADDR", "8080", true, []string{"FLEETPULSE_ADMIN_TOKEN"},
			map[string]string{"eventstore": "service_healthy", "migrate": "service_completed_successfully"}},
		{"projector", "FLEETPULSE_PROJECTOR_ADDR", "8082", false, nil,
			map[string]string{"eventstore": "service_healthy", "migrate": "service_completed_successfully"}},
		{"read-api", "FLEETPULSE_READ_ADDR", "8081", true, nil,
			map[string]string{"postgres": "service_healthy", "migrate": "service_completed_successfully"}},
	}
	for _, app := range apps {
		t.Run(app.name, func(t *testing.T) {
			s, ok := services[app.name]
			if !ok {
				t.Fatalf("no service %s", app.name)
			}
			if !d.runsBuiltImage(s) {
				t.Errorf("%s neither builds the image nor runs the one built (%q): it would run a stale or missing image", app.name, d.builtImage)
			}
			if name, _ := binaryIn(d.image, firstOr(s.Command, "")); name != app.name {
				t.Errorf("command %v, want the %s binary", s.Command, app.name)
			}
			env := s.Environment
			for _, k := range append([]string{"FLEETPULSE_PG_URL", "FLEETPULSE_EVENT_STORE", "FLEETPULSE_ESDB_URL", app.addrVar}, app.needs...) {
				if env[k] == "" {
					t.Errorf("environment has no %s", k)
				}
			}
			if env["FLEETPULSE_EVENT_STORE"] != "esdb" {
				t.Errorf("FLEETPULSE_EVENT_STORE=%q, want esdb", env["FLEETPULSE_EVENT_STORE"])
			}
			checkHost(t, services, "FLEETPULSE_PG_URL", env["FLEETPULSE_PG_URL"], "postgres")
			checkHost(t, services, "FLEETPULSE_ESDB_URL", env["FLEETPULSE_ESDB_URL"], "eventstore")
			if addr := env[app.addrVar]; !strings.HasSuffix(addr, ":"+app.port) {
				t.Errorf("%s=%q, want it to listen on port %s", app.addrVar, addr, app.port)
			}
			switch {
			case app.published && !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+app.port) }):
				t.Errorf("ports %v do not publish %s", s.Ports, app.port)
			case !app.published && !slices.Contains(s.Expose, app.port):
				t.Errorf("expose %v does not offer %s to the compose network", s.Expose, app.port)
			}
			if s.Healthcheck == nil {
				t.Error("no healthcheck")
			} else if want := "127.0.0.1:" + app.port + "/readyz"; !strings.Contains(strings.Join(s.Healthcheck.Test, " "), want) {
				t.Errorf("healthcheck %v does not probe %s", s.Healthcheck.Test, want)
			}
			if len(s.DependsOn) == 0 {
				t.Error("no depends_on: it would start before its databases")
			}
			for dep, cond := range app.dependsOn {
				if got := s.DependsOn[dep]; got != cond {
					t.Errorf("depends_on %s: condition %q, want %q", dep, got, cond)
				}
			}
		})
	}
}

func TestReadme_DocumentsTheComposeStack(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("README.md not written yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"`docker compose up`", regexp.MustCompile(`docker compose (--profile \S+ )?up`)},
		{"ESDB_URL (the EventStoreDB contract suite's variable)", regexp.MustCompile(`(^|[^A-Z_])ESDB_URL`)},
	}
	for _, c := range checks {
		if !c.re.Match(b) {
			t.Errorf("README.md does not mention %s", c.what)
		}
	}
}

// checkHost checks that a connection URL in the environment points at a
// compose service by its name.
func checkHost(t *testing.T, services map[string]service, name, raw, wantHost string) {
	t.Helper()
	if raw == "" {
		return
	}
	u, err := url.Parse(withDefaults(raw))
	if err != nil {
		t.Errorf("%s=%q: %v", name, raw, err)
		return
	}
	if u.Hostname() != wantHost {
		t.Errorf("%s points at host %q, want the %s service", name, u.Hostname(), wantHost)
	}
	if _, ok := services[u.Hostname()]; !ok {
		t.Errorf("%s points at %q, which is not a service", name, u.Hostname())
	}
}

func firstOr(l []string, def string) string {
	if len(l) == 0 {
		return def
	}
	return l[0]
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
