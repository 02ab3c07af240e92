package docs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// section returns the text of the "## title" section of a Markdown file.
func section(t *testing.T, md, title string) string {
	t.Helper()
	start := strings.Index(md, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("no section %q", title)
	}
	rest := md[start+len(title)+5:]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

var route = regexp.MustCompile("`(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`\\s]*)`")

func documentedRoutes(text string) []string {
	var out []string
	for _, m := range route.FindAllStringSubmatch(text, -1) {
		if r := m[1] + " " + m[2]; !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// openAPIRoutes lists the operations of an OpenAPI document as "METHOD /path".
func openAPIRoutes(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for p, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "head", "post", "put", "patch", "delete":
				out = append(out, strings.ToUpper(method)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestAPIDoc_NamesExactlyTheRoutesOfTheOpenAPIDocuments: the OpenAPI
// documents are the source of truth; api.md's route tables must name each
// of their operations, and nothing else.
func TestAPIDoc_NamesExactlyTheRoutesOfTheOpenAPIDocuments(t *testing.T) {
	b, err := os.ReadFile("api.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, api := range []struct{ title, openapi string }{
		{"Command API", "../infra/commandapi/openapi.json"},
		{"Read API", "../readapi/openapi.json"},
	} {
		documented := documentedRoutes(section(t, md, api.title))
		served := openAPIRoutes(t, api.openapi)
		for _, r := range served {
			if !slices.Contains(documented, r) {
				t.Errorf("%s: %s is in %s but not in docs/api.md", api.title, r, api.openapi)
			}
		}
		for _, r := range documented {
			if !slices.Contains(served, r) {
				t.Errorf("%s: docs/api.md names %s, which %s does not have", api.title, r, api.openapi)
			}
		}
	}
}

// machinePaths are paths of one machine (a scratch directory, a checkout,
// a home directory) or of files outside the repository.
var machinePaths = regexp.MustCompile(`(^|[\s"'(=:\x60])(/tmp/|/work/|/root/|/home/|/Users/|~/|[A-Z]:\\|\.\./shared)`)

// docFiles are the documents people read: the READMEs and everything
// under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../README.md", "../readapi/dashboard/README.md"}
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDocs_SpeakOfTheRepositoryNotOfOneMachine: no document cites a path of
// the machine it was written on, or a file outside the repository; and
// every relative link of a Markdown document leads to a file of the
// repository.
func TestDocs_SpeakOfTheRepositoryNotOfOneMachine(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := machinePaths.FindString(line); m != "" {
				t.Errorf("%s:%d names a path of one machine or outside the repository (%q): %s", f, i+1, strings.TrimSpace(m), strings.TrimSpace(line))
			}
		}
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(f), target))
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links %s, outside the repository", f, m[1])
			} else if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links %s, which does not exist", f, m[1])
			}
		}
	}
}

// The README sends readers to the contract in the repository.
func TestReadme_PointsToTheAPIDocInTheRepository(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "docs/api.md") {
		t.Error("README.md does not point to docs/api.md")
	}
}
