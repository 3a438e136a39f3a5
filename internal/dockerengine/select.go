package dockerengine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/chaosctl/chaosctl/plugins"
)

// Labels chaosctl honours on containers.
const (
	LabelSkip    = "chaosctl.skip"    // "true": never a target
	LabelManaged = "chaosctl.managed" // "true": chaosctl's own container, never a target

	labelComposeProject = "com.docker.compose.project"
	labelComposeService = "com.docker.compose.service"
)

// selectorSchema is the [fault.target] table of every container action.
var selectorSchema = append([]plugins.Param{
	{Name: "name", Type: plugins.TypeString, Doc: "exact container name (without the leading /) or id"},
	{Name: "name_regex", Type: plugins.TypeString, Doc: "regular expression over the container name"},
	{Name: "labels", Type: plugins.TypeTable, Doc: "labels the container must all carry, e.g. { app = \"api\" }"},
	{Name: "compose_project", Type: plugins.TypeString, Doc: "Docker Compose project (label com.docker.compose.project)"},
	{Name: "compose_service", Type: plugins.TypeString, Doc: "Docker Compose service (label com.docker.compose.service)"},
	{Name: "image", Type: plugins.TypeString, Doc: "image reference as the container was created with, e.g. \"api:1.4\""},
}, plugins.HowManyParams...)

// matchKeys are the selector keys that choose containers (the rest choose
// how many).
var matchKeys = []string{"name", "name_regex", "labels", "compose_project", "compose_service", "image"}

// SelectsContainers reports whether a fault's target table names
// containers, by any of the docker selector's keys.
func SelectsContainers(sel plugins.Params) bool {
	for _, k := range matchKeys {
		if _, ok := sel[k]; ok {
			return true
		}
	}
	return false
}

// Selector is a decoded [fault.target] table.
type Selector struct {
	Name           string
	NameRegex      *regexp.Regexp
	Labels         map[string]string
	ComposeProject string
	ComposeService string
	Image          string
	plugins.HowMany
}

// parseSelector decodes and checks sel; errors name the key.
func parseSelector(sel plugins.Params) (Selector, []error) {
	var s Selector
	var errs []error
	bad := func(k, msg string) { errs = append(errs, &plugins.ValidationError{Field: "target." + k, Msg: msg}) }
	str := func(k string) string {
		v, ok := sel[k]
		if !ok {
			return ""
		}
		x, ok := v.(string)
		if !ok || x == "" {
			bad(k, "must be a non-empty string")
		}
		return x
	}
	n := 0
	for _, k := range matchKeys {
		if _, ok := sel[k]; ok {
			n++
		}
	}
	if n == 0 {
		errs = append(errs, &plugins.ValidationError{Field: "target", Msg: "give at least one of " + strings.Join(matchKeys, ", ")})
	}
	s.Name = str("name")
	if re := str("name_regex"); re != "" {
		var err error
		if s.NameRegex, err = regexp.Compile(re); err != nil {
			bad("name_regex", "not a regular expression: "+err.Error())
		}
	}
	if v, ok := sel["labels"]; ok {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			bad("labels", "must be a non-empty table of strings")
		}
		s.Labels = map[string]string{}
		for k, x := range m {
			xs, ok := x.(string)
			if !ok {
				bad("labels."+k, "must be a string")
			}
			s.Labels[k] = xs
		}
	}
	s.ComposeProject = str("compose_project")
	s.ComposeService = str("compose_service")
	s.Image = str("image")
	var more []error
	s.HowMany, more = plugins.ParseHowMany(sel)
	errs = append(errs, more...)
	return s, errs
}

// matches says whether c is chosen by the match keys (not by count).
func (s Selector) matches(c Container) bool {
	if s.Name != "" && c.Name != s.Name && c.ID != s.Name && !(len(s.Name) >= 12 && strings.HasPrefix(c.ID, s.Name)) {
		return false
	}
	if s.NameRegex != nil && !s.NameRegex.MatchString(c.Name) {
		return false
	}
	for k, v := range s.Labels {
		if got, ok := c.Labels[k]; !ok || got != v {
			return false
		}
	}
	if s.ComposeProject != "" && c.Labels[labelComposeProject] != s.ComposeProject {
		return false
	}
	if s.ComposeService != "" && c.Labels[labelComposeService] != s.ComposeService {
		return false
	}
	if s.Image != "" && c.Image != s.Image {
		return false
	}
	return true
}

// protected says why c must never be a target ("" when it may be).
func protected(c Container, self string) string {
	switch {
	case c.Labels[LabelSkip] == "true":
		return "labelled " + LabelSkip + "=true"
	case c.Labels[LabelManaged] == "true":
		return "labelled " + LabelManaged + "=true (chaosctl's own)"
	case self != "" && c.ID == self:
		return "chaosctl runs in it"
	}
	return ""
}

// choose returns the containers of list that s selects, in a stable order
// (by name) unless s.Random, cut to s.Count or s.Percent.
func (s Selector) choose(list []Container, self string, rng *rand.Rand) []Container {
	var out []Container
	for _, c := range list {
		if protected(c, self) == "" && s.matches(c) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	n := s.Of(len(out))
	if s.Random && rng != nil {
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out[:n]
}

// selectContainers lists containers and applies the selector.
func selectContainers(ctx context.Context, e Engine, sel plugins.Params, onlyRunning bool) ([]Container, error) {
	s, errs := parseSelector(sel)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	list, err := e.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	if onlyRunning {
		kept := list[:0]
		for _, c := range list {
			if c.Running && !c.Paused {
				kept = append(kept, c)
			}
		}
		list = kept
	}
	got := s.choose(list, selfContainerID(), rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if len(got) == 0 {
		return nil, fmt.Errorf("%w: no running container matches %s", plugins.ErrNoTargets, describe(sel))
	}
	return got, nil
}

// describe renders the match keys of a selector for error messages.
func describe(sel plugins.Params) string {
	var parts []string
	for _, k := range matchKeys {
		if v, ok := sel[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// selfContainerID is the id of the container chaosctl runs in, or "" on a
// host. Docker puts the id in the cgroup paths (v1, and v2 with cgroupfs)
// and bind-mounts /etc/hostname from /var/lib/docker/containers/<id>/.
func selfContainerID() string {
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "docker") {
				if id := hexID.FindString(line); id != "" {
					return id
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && f[4] == "/etc/hostname" && strings.Contains(f[3], "/containers/") {
				if id := hexID.FindString(f[3]); id != "" {
					return id
				}
			}
		}
	}
	return ""
}

// SelectContainers resolves a selector to containers (only running,
// unpaused ones with onlyRunning), never chaosctl's own or a
// chaosctl.skip one.
func SelectContainers(ctx context.Context, e Engine, sel plugins.Params, onlyRunning bool) ([]Container, error) {
	return selectContainers(ctx, e, sel, onlyRunning)
}

// Protected says why c may never be a target ("" when it may).
func Protected(c Container) string { return protected(c, selfContainerID()) }

// SelectorSchema is the container selector (for plugins that target containers).
func SelectorSchema() []plugins.Param { return append([]plugins.Param(nil), selectorSchema...) }

// CheckSelector validates a container selector.
func CheckSelector(sel plugins.Params) []error {
	_, errs := parseSelector(sel)
	return errs
}

// Select resolves a container selector to running containers; no match is
// plugins.ErrNoTargets.
func Select(ctx context.Context, e Engine, sel plugins.Params) ([]Container, error) {
	return selectContainers(ctx, e, sel, true)
}

// Targets is Select as fault targets: one "container" target per
// container, by id and name.
func Targets(ctx context.Context, e Engine, sel plugins.Params) ([]plugins.Target, error) {
	list, err := Select(ctx, e, sel)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Target, len(list))
	for i, c := range list {
		out[i] = plugins.Target{Kind: "container", ID: c.ID, Name: c.Name}
	}
	return out, nil
}

// InspectTarget connects through l when need be and inspects the container
// a fault's target names, as it is now. An error names the target and
// wraps the Engine's (ErrNotFound for a container that is gone).
func InspectTarget(ctx context.Context, l *Lazy, t plugins.Target) (Container, error) {
	e, err := l.Get(ctx)
	if err != nil {
		return Container{}, err
	}
	c, err := e.Inspect(ctx, t.ID)
	if err != nil {
		return Container{}, fmt.Errorf("inspect %s: %w", t, err)
	}
	return c, nil
}
