package kube

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosctl/chaosctl/plugins"
)

// Protection rules: what is never a target.
const (
	// LabelSkip on a pod or node: "true" keeps it out of every selection.
	LabelSkip = "chaosctl.skip"
	// SystemNamespace is never a target.
	SystemNamespace = "kube-system"
	// EnvPodName and EnvPodNamespace name chaosctl's own pod (set from the
	// downward API in contrib/kubernetes), which is never a target.
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
)

// Object kinds a selector can choose.
const (
	KindPod         = "pod"
	KindDeployment  = "deployment"
	KindStatefulSet = "statefulset"
	KindDaemonSet   = "daemonset"
	KindReplicaSet  = "replicaset"
	KindNode        = "node"
)

// SelectorSchema is the [fault.target] table of the kubernetes plugin;
// kinds lists the object kinds the action takes (the first is the default).
func SelectorSchema(kinds ...string) []plugins.Param {
	out := []plugins.Param{
		{Name: "kubeconfig", Type: plugins.TypeString, Doc: "kubeconfig path (default: --kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster)"},
		{Name: "context", Type: plugins.TypeString, Doc: "kubeconfig context (default: --context, the current context)"},
	}
	if len(kinds) > 1 || kinds[0] != KindNode {
		out = append(out,
			plugins.Param{Name: "namespace", Type: plugins.TypeString, Default: "default", Doc: "namespace (kube-system is never a target)"},
			plugins.Param{Name: "kind", Type: plugins.TypeString, Default: kinds[0], Enum: kinds, Doc: "kind of object the action hits"})
	}
	out = append(out,
		plugins.Param{Name: "name", Type: plugins.TypeString, Doc: "the object's exact name"},
		plugins.Param{Name: "names", Type: plugins.TypeStrings, Doc: "exact names; any of them"},
		plugins.Param{Name: "labels", Type: plugins.TypeTable, Doc: "labels the object must all carry, e.g. { app = \"web\" }"},
		plugins.Param{Name: "label_selector", Type: plugins.TypeString, Doc: "a Kubernetes label selector, e.g. \"app=web,tier!=db\""},
		plugins.Param{Name: "field_selector", Type: plugins.TypeString, Doc: "a Kubernetes field selector, e.g. \"spec.nodeName=node-1\""},
	)
	if kinds[0] == KindPod {
		out = append(out, plugins.Param{Name: "owner", Type: plugins.TypeString, Doc: "pods owned by this workload, e.g. \"Deployment/web\" (also StatefulSet, DaemonSet, ReplicaSet, Job)"})
	}
	out = append(out, plugins.HowManyParams...)
	return out
}

// Selector is a decoded [fault.target] table.
type Selector struct {
	Config    Config
	Namespace string
	Kind      string
	Names     []string
	Labels    labels.Selector
	Fields    fields.Selector
	Owner     string // Kind/name
	plugins.HowMany
}

// ParseSelector decodes and checks a target table for an action that
// takes kinds (the first is the default). Every problem names its key.
func ParseSelector(sel plugins.Params, kinds ...string) (Selector, []error) {
	var errs []error
	bad := func(field, msg string) {
		if field != "" {
			field = "." + field
		}
		errs = append(errs, &plugins.ValidationError{Field: "target" + field, Msg: msg})
	}
	str := func(key string) string {
		v, ok := sel[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			bad(key, fmt.Sprintf("want a string, got %T", v))
		}
		return s
	}
	s := Selector{
		Config:    Config{Kubeconfig: str("kubeconfig"), Context: str("context")}.Or(FromEnv()),
		Namespace: str("namespace"),
		Kind:      strings.ToLower(str("kind")),
		Owner:     str("owner"),
	}
	if s.Kind == "" {
		s.Kind = kinds[0]
	}
	if !contains(kinds, s.Kind) {
		bad("kind", fmt.Sprintf("%s: this action takes %s, not %q", ErrUnsupported, strings.Join(kinds, " or "), s.Kind))
	}
	if s.Kind == KindNode {
		s.Namespace = ""
		if _, ok := sel["namespace"]; ok {
			bad("namespace", "nodes have no namespace")
		}
	} else if s.Namespace == "" {
		s.Namespace = "default"
	}
	if s.Namespace == SystemNamespace {
		bad("namespace", SystemNamespace+" is never a target")
	}
	if n := str("name"); n != "" {
		s.Names = append(s.Names, n)
	}
	if v, ok := sel["names"]; ok {
		list, ok := v.([]any)
		if !ok {
			bad("names", fmt.Sprintf("want a list of strings, got %T", v))
		}
		for _, x := range list {
			n, ok := x.(string)
			if !ok || n == "" {
				bad("names", "want non-empty strings")
				continue
			}
			s.Names = append(s.Names, n)
		}
	}
	set := labels.Set{}
	if v, ok := sel["labels"]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			bad("labels", fmt.Sprintf("want a table of strings, got %T", v))
		}
		for k, x := range m {
			xs, ok := x.(string)
			if !ok {
				bad("labels."+k, fmt.Sprintf("want a string, got %T", x))
				continue
			}
			set[k] = xs
		}
	}
	ls, err := labels.ValidatedSelectorFromSet(set)
	if err != nil {
		bad("labels", err.Error())
		ls = labels.Everything()
	}
	if q := str("label_selector"); q != "" {
		extra, err := labels.Parse(q)
		if err != nil {
			bad("label_selector", err.Error())
		} else {
			reqs, _ := extra.Requirements()
			ls = ls.Add(reqs...)
		}
	}
	s.Labels = ls
	s.Fields = fields.Everything()
	if q := str("field_selector"); q != "" {
		fs, err := fields.ParseSelector(q)
		if err != nil {
			bad("field_selector", err.Error())
		} else {
			s.Fields = fs
		}
	}
	if s.Owner != "" {
		if k, n, ok := strings.Cut(s.Owner, "/"); !ok || n == "" || !contains([]string{"deployment", "statefulset", "daemonset", "replicaset", "job"}, strings.ToLower(k)) {
			bad("owner", fmt.Sprintf("want KIND/NAME with KIND one of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job; got %q", s.Owner))
		}
	}
	if len(s.Names) == 0 && s.Labels.Empty() && s.Fields.Empty() && s.Owner == "" {
		bad("", "name a target: name, names, labels, label_selector, field_selector or owner")
	}
	var more []error
	s.HowMany, more = plugins.ParseHowMany(sel)
	errs = append(errs, more...)
	return s, errs
}

// Describe is the selector as a person reads it in an error.
func (s Selector) Describe() string {
	var parts []string
	if len(s.Names) > 0 {
		parts = append(parts, "name "+strings.Join(s.Names, ","))
	}
	if !s.Labels.Empty() {
		parts = append(parts, "labels "+s.Labels.String())
	}
	if !s.Fields.Empty() {
		parts = append(parts, "fields "+s.Fields.String())
	}
	if s.Owner != "" {
		parts = append(parts, "owner "+s.Owner)
	}
	where := ""
	if s.Namespace != "" {
		where = " in namespace " + s.Namespace
	}
	return s.Kind + "s with " + strings.Join(parts, ", ") + where
}

// CheckNamespace fails with ErrNoNamespace when s's namespace does not
// exist. A role that may not read namespaces is not an error: the list
// that follows says what it can.
func CheckNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	if ns == "" {
		return nil
	}
	_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %q", ErrNoNamespace, ns)
	}
	return Explain(err, "get", "namespace "+ns, "")
}

// Pods resolves s to running pods, protected ones left out, chosen by
// count, percent and random. No match is plugins.ErrNoTargets.
func Pods(ctx context.Context, c kubernetes.Interface, s Selector, rng *rand.Rand) ([]corev1.Pod, error) {
	if err := CheckNamespace(ctx, c, s.Namespace); err != nil {
		return nil, err
	}
	list, err := c.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.Labels.String(), FieldSelector: s.Fields.String()})
	if err != nil {
		return nil, Explain(err, "list", "pods", s.Namespace)
	}
	owners, err := s.owners(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if Protected(&p.ObjectMeta) != "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if len(s.Names) > 0 && !contains(s.Names, p.Name) {
			continue
		}
		if owners != nil && !ownedBy(&p.ObjectMeta, owners) {
			continue
		}
		out = append(out, p)
	}
	out = choose(out, s, rng, func(p corev1.Pod) string { return p.Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no running %s", plugins.ErrNoTargets, s.Describe())
	}
	return out, nil
}

// Nodes resolves s to nodes, protected ones left out.
func Nodes(ctx context.Context, c kubernetes.Interface, s Selector, rng *rand.Rand) ([]corev1.Node, error) {
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: s.Labels.String(), FieldSelector: s.Fields.String()})
	if err != nil {
		return nil, Explain(err, "list", "nodes", "")
	}
	var out []corev1.Node
	for _, n := range list.Items {
		if n.Labels[LabelSkip] == "true" || (len(s.Names) > 0 && !contains(s.Names, n.Name)) {
			continue
		}
		out = append(out, n)
	}
	out = choose(out, s, rng, func(n corev1.Node) string { return n.Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no %s", plugins.ErrNoTargets, s.Describe())
	}
	return out, nil
}

// Protected says why a pod is never a target ("" when it may be one).
func Protected(m *metav1.ObjectMeta) string { return protected(m) }

func protected(m metav1.Object) string {
	switch {
	case m.GetNamespace() == SystemNamespace:
		return "in " + SystemNamespace
	case m.GetLabels()[LabelSkip] == "true":
		return "labelled " + LabelSkip + "=true"
	case m.GetName() != "" && m.GetName() == os.Getenv(EnvPodName) && m.GetNamespace() == os.Getenv(EnvPodNamespace):
		return "chaosctl's own pod"
	}
	return ""
}

// listOf lets one variable hold any kind's list.
func listOf[T runtime.Object](l T, err error) (runtime.Object, error) { return l, err }

// ObjectOf lets one variable hold any kind's object: o, err =
// ObjectOf(c.AppsV1().StatefulSets(ns).Get(...)).
func ObjectOf[T metav1.Object](o T, err error) (metav1.Object, error) { return o, err }

// owners returns the UIDs whose pods s.Owner names (nil: no owner given).
// A Deployment owns its pods through ReplicaSets.
func (s Selector) owners(ctx context.Context, c kubernetes.Interface) (map[types.UID]bool, error) {
	if s.Owner == "" {
		return nil, nil
	}
	kind, name, _ := strings.Cut(s.Owner, "/")
	ns := s.Namespace
	var o metav1.Object
	var err error
	switch strings.ToLower(kind) {
	case "deployment":
		d, e := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if e != nil {
			return nil, notFound(e, "get", "deployment "+name, ns)
		}
		rss, e := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if e != nil {
			return nil, Explain(e, "list", "replicasets", ns)
		}
		out := map[types.UID]bool{}
		for _, rs := range rss.Items {
			if ownedBy(&rs.ObjectMeta, map[types.UID]bool{d.UID: true}) {
				out[rs.UID] = true
			}
		}
		return out, nil
	case "statefulset":
		o, err = ObjectOf(c.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{}))
	case "daemonset":
		o, err = ObjectOf(c.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{}))
	case "replicaset":
		o, err = ObjectOf(c.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{}))
	case "job":
		o, err = ObjectOf(c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}))
	}
	if err != nil {
		return nil, notFound(err, "get", strings.ToLower(kind)+" "+name, ns)
	}
	return map[types.UID]bool{o.GetUID(): true}, nil
}

// notFound is Explain, with a missing object said plainly.
func notFound(err error, verb, what, ns string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s in namespace %s does not exist", plugins.ErrNoTargets, what, ns)
	}
	return Explain(err, verb, what, ns)
}

func ownedBy(m *metav1.ObjectMeta, uids map[types.UID]bool) bool {
	for _, r := range m.OwnerReferences {
		if uids[r.UID] {
			return true
		}
	}
	return false
}

// choose orders list by name (or shuffles it) and cuts it to s's count
// or percent.
func choose[T any](list []T, s Selector, rng *rand.Rand, name func(T) string) []T {
	sort.Slice(list, func(i, j int) bool { return name(list[i]) < name(list[j]) })
	n := s.Of(len(list))
	if s.Random {
		if rng == nil {
			rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
		rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	}
	return list[:n]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Workload is a Deployment, StatefulSet or DaemonSet, by identity.
type Workload struct {
	Kind, Namespace, Name string
	UID                   types.UID
}

// Workloads resolves s to Deployments, StatefulSets or DaemonSets (by
// s.Kind), protected ones left out.
func Workloads(ctx context.Context, c kubernetes.Interface, s Selector, rng *rand.Rand) ([]Workload, error) {
	if err := CheckNamespace(ctx, c, s.Namespace); err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{LabelSelector: s.Labels.String(), FieldSelector: s.Fields.String()}
	var list runtime.Object
	var err error
	switch s.Kind {
	case KindDeployment:
		list, err = listOf(c.AppsV1().Deployments(s.Namespace).List(ctx, opts))
	case KindStatefulSet:
		list, err = listOf(c.AppsV1().StatefulSets(s.Namespace).List(ctx, opts))
	case KindDaemonSet:
		list, err = listOf(c.AppsV1().DaemonSets(s.Namespace).List(ctx, opts))
	default:
		return nil, fmt.Errorf("%w: %q is not a workload kind", ErrUnsupported, s.Kind)
	}
	if err != nil {
		return nil, Explain(err, "list", s.Kind+"s", s.Namespace)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var metas []metav1.Object
	for _, it := range items {
		if m, err := meta.Accessor(it); err == nil {
			metas = append(metas, m)
		}
	}
	var out []Workload
	for _, m := range metas {
		if protected(m) != "" || (len(s.Names) > 0 && !contains(s.Names, m.GetName())) {
			continue
		}
		out = append(out, Workload{Kind: s.Kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()})
	}
	out = choose(out, s, rng, func(w Workload) string { return w.Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no %s", plugins.ErrNoTargets, s.Describe())
	}
	return out, nil
}
