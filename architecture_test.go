package applet_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// packages reads the module's packages and the module packages each imports, from the source:
// non-test files into code, test files into tests.
func packages(t *testing.T) (module string, code, tests map[string][]string) {
	t.Helper()
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			module = strings.TrimSpace(rest)
		}
	}
	code, tests = map[string][]string{}, map[string][]string{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		into := code
		if strings.HasSuffix(path, "_test.go") {
			into = tests
		}
		if _, ok := into[pkg]; !ok {
			into[pkg] = nil
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if rel, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(into[pkg], rel) {
				into[pkg] = append(into[pkg], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(code, ".")
	return module, code, tests
}

// allowedEdges reads the "imports" block of ARCHITECTURE.md: "from: to, to" ("-": nothing), where a
// name ending in /... stands for the folder and everything under it.
func allowedEdges(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string][]string{}
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case line == "```imports":
			in = true
			continue
		case in && line == "```":
			in = false
		}
		if !in || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		from, to, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("ARCHITECTURE.md: %q is not \"from: to, ...\"", line)
		}
		var targets []string
		for _, x := range strings.Split(to, ",") {
			if x = strings.TrimSpace(x); x != "" && x != "-" {
				targets = append(targets, x)
			}
		}
		for _, f := range strings.Fields(from) {
			rules[f] = append(rules[f], targets...)
		}
	}
	if len(rules) == 0 {
		t.Fatal("ARCHITECTURE.md has no ```imports block")
	}
	return rules
}

func matches(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pattern == pkg
}

// ruleFor is the most specific rule for pkg: its own line, else the longest /... line over it.
func ruleFor(rules map[string][]string, pkg string) ([]string, bool) {
	if r, ok := rules[pkg]; ok {
		return r, true
	}
	best, found := "", false
	for p := range rules {
		if matches(p, pkg) && len(p) > len(best) {
			best, found = p, true
		}
	}
	return rules[best], found
}

// closure is every package that from reaches through edges.
func closure(edges map[string][]string, from string) map[string]bool {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, q := range edges[p] {
			visit(q)
		}
	}
	visit(from)
	return seen
}

// TestArchitectureImports holds the module's imports against the edges ARCHITECTURE.md allows.
func TestArchitectureImports(t *testing.T) {
	_, code, _ := packages(t)
	rules := allowedEdges(t)
	var pkgs []string
	for p := range code {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	if len(pkgs) < 20 {
		t.Fatalf("read only %d packages: %v", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		allowed, ok := ruleFor(rules, p)
		if !ok {
			t.Errorf("%s is not in ARCHITECTURE.md's imports block: say what it may import", p)
			continue
		}
		for _, imp := range code[p] {
			if !slices.ContainsFunc(allowed, func(a string) bool { return matches(a, imp) }) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow", p, imp)
			}
		}
	}
	for p := range rules {
		if _, ok := code[strings.TrimSuffix(p, "/...")]; !ok && !strings.HasSuffix(p, "/...") {
			t.Errorf("ARCHITECTURE.md names %s, which is no package", p)
		}
	}
}

// TestArchitectureRules holds the rules that no edit of ARCHITECTURE.md may lift.
func TestArchitectureRules(t *testing.T) {
	_, code, tests := packages(t)
	for p, imps := range code {
		for _, imp := range imps {
			switch {
			case matches("serve/...", p) && (matches("provision/...", imp) || imp == "doctor" || imp == "internal/config"):
				t.Errorf("%s imports %s: serve takes plain options and never knows provision, doctor or the config", p, imp)
			case matches("provision/...", p) && imp == "internal/config":
				t.Errorf("%s imports %s: provision takes options that the command layer fills", p, imp)
			case imp == "internal/cli" && p != "cmd/applet":
				t.Errorf("%s imports the command layer", p)
			case imp == "internal/testenv" && p != "internal/testenv":
				t.Errorf("%s imports internal/testenv outside a test", p)
			}
		}
	}
	// The binary links no stand-in, and no test helper.
	bin := closure(code, "cmd/applet")
	if !bin["internal/cli"] || !bin["serve/game"] || !bin["provision/deploy"] {
		t.Fatalf("the binary's closure looks wrong: %v", bin)
	}
	for p := range bin {
		if matches("internal/fakes/...", p) || p == "internal/testenv" {
			t.Errorf("the binary links %s", p)
		}
	}
	// The stand-ins are there for tests: some test uses each.
	for p := range code {
		if !matches("internal/fakes/...", p) {
			continue
		}
		used := false
		for _, imps := range tests {
			used = used || slices.Contains(imps, p)
		}
		if !used {
			t.Errorf("%s is used by no test", p)
		}
	}
}
