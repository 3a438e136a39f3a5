package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/chaosctl/chaosctl/internal/kube"
)

func init() {
	register(Kind{
		Name: "kubernetes",
		Doc: "Kubernetes readiness from an informer (a watch): ready replicas of a Deployment or StatefulSet, ready pods matching labels, " +
			"or ready endpoints of a Service. Value: the ready count. Changes are sampled at the instant the watch sees them.",
		NewSpec: func() Spec { return &KubernetesSpec{} },
	})
}

// KubernetesSpec is the "kubernetes" probe: exactly one of deployment,
// statefulset, pods or service.
type KubernetesSpec struct {
	Kubeconfig  string            `toml:"kubeconfig"`  // default: --kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster
	Context     string            `toml:"context"`     // default: --context, the current context
	Namespace   string            `toml:"namespace"`   // default "default"
	Deployment  string            `toml:"deployment"`  // ready replicas of this Deployment
	StatefulSet string            `toml:"statefulset"` // ready replicas of this StatefulSet
	Pods        map[string]string `toml:"pods"`        // ready pods with these labels
	Service     string            `toml:"service"`     // ready endpoints of this Service
	// MinReady is the ready count that is ok. Default: a workload's
	// spec.replicas, and at least 1 (a workload scaled to 0 is not
	// serving); 1 for pods and service.
	MinReady *int `toml:"min_ready"`
}

// ErrKubernetesUnreachable: the probe's watch of the API server is
// broken, so its view may be stale: the service was not measured.
var ErrKubernetesUnreachable = errors.New("kubernetes API unreachable")

// Validate reports every problem with the spec.
func (s *KubernetesSpec) Validate() []FieldError {
	var errs []FieldError
	n := 0
	for _, set := range []bool{s.Deployment != "", s.StatefulSet != "", len(s.Pods) > 0, s.Service != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, FieldError{Field: "deployment", Msg: "give exactly one of deployment, statefulset, pods, service"})
	}
	if len(s.Pods) > 0 {
		if _, err := labels.ValidatedSelectorFromSet(s.Pods); err != nil {
			errs = append(errs, FieldError{Field: "pods", Msg: err.Error()})
		}
	}
	if s.MinReady != nil && *s.MinReady < 0 {
		errs = append(errs, FieldError{Field: "min_ready", Msg: "must be >= 0"})
	}
	return errs
}

// Build returns the prober; it reaches the cluster on first use.
func (s *KubernetesSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	spec := *s
	if spec.Namespace == "" {
		spec.Namespace = "default"
	}
	return &kubeProber{name: name, spec: spec, cfg: kube.Config{Kubeconfig: s.Kubeconfig, Context: s.Context}.Or(kube.FromEnv()), connect: kube.Connect}, nil
}

// kubeProber reads its target from an informer's cache: a sample costs no
// API call, and the informer's events give the instants of change.
type kubeProber struct {
	name    string
	spec    KubernetesSpec
	cfg     kube.Config
	connect func(context.Context, kube.Config) (kubernetes.Interface, error)

	once    sync.Once
	initErr error
	inf     cache.SharedIndexInformer
	stop    context.CancelFunc

	mu      sync.Mutex
	broken  error // the watch's last error, until the next event
	changed chan struct{}
}

var (
	_ Prober  = (*kubeProber)(nil)
	_ Watcher = (*kubeProber)(nil)
)

func (p *kubeProber) start(ctx context.Context) error {
	p.once.Do(func() {
		c, err := p.connect(ctx, p.cfg)
		if err != nil {
			p.initErr = err
			return
		}
		p.inf = p.informer(c)
		p.changed = make(chan struct{}, 1)
		mark := func(any) {
			p.mu.Lock()
			p.broken = nil
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
		_, _ = p.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    mark,
			UpdateFunc: func(_, n any) { mark(n) },
			DeleteFunc: mark,
		})
		_ = p.inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			p.mu.Lock()
			p.broken = err
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		})
		ictx, cancel := context.WithCancel(context.Background())
		p.stop = cancel
		go p.inf.RunWithContext(ictx)
	})
	return p.initErr
}

// informer watches only what the probe reads, through the typed client
// (so any kubernetes.Interface serves).
func (p *kubeProber) informer(c kubernetes.Interface) cache.SharedIndexInformer {
	ns := p.spec.Namespace
	var opts metav1.ListOptions
	var list func(context.Context, metav1.ListOptions) (runtime.Object, error)
	var watchf func(context.Context, metav1.ListOptions) (watch.Interface, error)
	var obj runtime.Object
	switch {
	case p.spec.Deployment != "":
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.spec.Deployment).String()
		api := c.AppsV1().Deployments(ns)
		list, watchf, obj = listFunc(api.List), api.Watch, &appsv1.Deployment{}
	case p.spec.StatefulSet != "":
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.spec.StatefulSet).String()
		api := c.AppsV1().StatefulSets(ns)
		list, watchf, obj = listFunc(api.List), api.Watch, &appsv1.StatefulSet{}
	case len(p.spec.Pods) > 0:
		opts.LabelSelector = labels.SelectorFromSet(p.spec.Pods).String()
		api := c.CoreV1().Pods(ns)
		list, watchf, obj = listFunc(api.List), api.Watch, &corev1.Pod{}
	default:
		opts.LabelSelector = labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: p.spec.Service}).String()
		api := c.DiscoveryV1().EndpointSlices(ns)
		list, watchf, obj = listFunc(api.List), api.Watch, &discoveryv1.EndpointSlice{}
	}
	with := func(o metav1.ListOptions) metav1.ListOptions {
		o.FieldSelector, o.LabelSelector = opts.FieldSelector, opts.LabelSelector
		return o
	}
	lw := &cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, with(o)) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return watchf(ctx, with(o)) },
	}
	return cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
}

// listFunc turns a typed List into one that returns a runtime.Object.
func listFunc[L runtime.Object](f func(context.Context, metav1.ListOptions) (L, error)) func(context.Context, metav1.ListOptions) (runtime.Object, error) {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return f(ctx, o) }
}

// state reads the cache: the ready count and the count that is ok.
func (p *kubeProber) state() (ready, want int, err error) {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrKubernetesUnreachable, broken)
	}
	if !p.inf.HasSynced() {
		return 0, 0, fmt.Errorf("%w: the watch has not listed %s yet", ErrKubernetesUnreachable, p.what())
	}
	items := p.inf.GetStore().List()
	want = 1
	if p.spec.MinReady != nil {
		want = *p.spec.MinReady
	}
	switch {
	case p.spec.Deployment != "", p.spec.StatefulSet != "":
		if len(items) == 0 {
			return 0, want, fmt.Errorf("%s does not exist", p.what())
		}
		var replicas int32 = 1
		switch o := items[0].(type) {
		case *appsv1.Deployment:
			ready = int(o.Status.ReadyReplicas)
			if o.Spec.Replicas != nil {
				replicas = *o.Spec.Replicas
			}
		case *appsv1.StatefulSet:
			ready = int(o.Status.ReadyReplicas)
			if o.Spec.Replicas != nil {
				replicas = *o.Spec.Replicas
			}
		}
		if p.spec.MinReady == nil {
			want = max(int(replicas), 1)
		}
	case len(p.spec.Pods) > 0:
		for _, it := range items {
			if pod := it.(*corev1.Pod); pod.DeletionTimestamp == nil && podReady(pod) {
				ready++
			}
		}
	default:
		seen := map[string]bool{}
		for _, it := range items {
			for _, ep := range it.(*discoveryv1.EndpointSlice).Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				for _, a := range ep.Addresses {
					seen[a] = true
				}
			}
		}
		ready = len(seen)
	}
	return ready, want, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (p *kubeProber) what() string {
	switch {
	case p.spec.Deployment != "":
		return "deployment " + p.spec.Namespace + "/" + p.spec.Deployment
	case p.spec.StatefulSet != "":
		return "statefulset " + p.spec.Namespace + "/" + p.spec.StatefulSet
	case len(p.spec.Pods) > 0:
		return "pods " + labels.SelectorFromSet(p.spec.Pods).String() + " in " + p.spec.Namespace
	}
	return "service " + p.spec.Namespace + "/" + p.spec.Service
}

// sample is the probe's view now.
func (p *kubeProber) sample(start time.Time) Sample {
	s := Sample{Probe: p.name, Time: start}
	ready, want, err := p.state()
	s.Latency = time.Since(start)
	s.Value = float64(ready)
	switch {
	case err != nil:
		s.Err = err.Error()
	case ready < want:
		s.Err = fmt.Sprintf("%s: %d ready, want %d", p.what(), ready, want)
	default:
		s.OK = true
	}
	return s
}

// Probe reads the informer's cache, waiting (within ctx) for its first
// list.
func (p *kubeProber) Probe(ctx context.Context) Sample {
	start := time.Now()
	if err := p.start(ctx); err != nil {
		return Sample{Probe: p.name, Time: start, Latency: time.Since(start), Err: err.Error()}
	}
	if !p.inf.HasSynced() {
		cache.WaitForCacheSync(ctx.Done(), p.inf.HasSynced)
	}
	return p.sample(start)
}

// Watch emits a sample whenever the watch's view changes from ok to not
// ok or back, or its ready count changes, at the instant the change
// arrived.
func (p *kubeProber) Watch(ctx context.Context, emit func(Sample)) error {
	if err := p.start(ctx); err != nil {
		return nil // Probe's samples say why
	}
	last := Sample{Value: -1}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.changed:
		}
		if !p.inf.HasSynced() {
			continue
		}
		s := p.sample(time.Now())
		if s.OK != last.OK || s.Value != last.Value || (s.Err != "") != (last.Err != "") {
			emit(s)
			last = s
		}
	}
}

// Close stops the informer.
func (p *kubeProber) Close() error {
	if p.stop != nil {
		p.stop()
	}
	return nil
}
