// Package kube is chaosctl's Kubernetes adapter: one way to reach a
// cluster (a kubeconfig and a context), one way to choose pods, nodes and
// workloads, and one way to explain what the API server refused. The
// kubernetes fault plugin and the kubernetes probe kind both use it.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables the CLI sets from --kubeconfig and --context, so
// that plugin processes it starts reach the same cluster.
const (
	EnvKubeconfig = "KUBECONFIG"
	EnvContext    = "CHAOSCTL_KUBE_CONTEXT"
)

// ErrKubeconfig: no usable kubeconfig (missing, unreadable or invalid).
var ErrKubeconfig = errors.New("kubeconfig")

// Config says how to reach a cluster. Empty fields fall back to
// $KUBECONFIG, $CHAOSCTL_KUBE_CONTEXT, ~/.kube/config, and last the
// in-cluster service account.
type Config struct {
	Kubeconfig string
	Context    string
}

// FromEnv is the Config the environment gives.
func FromEnv() Config {
	return Config{Kubeconfig: os.Getenv(EnvKubeconfig), Context: os.Getenv(EnvContext)}
}

// Or fills c's empty fields from d.
func (c Config) Or(d Config) Config {
	if c.Kubeconfig == "" {
		c.Kubeconfig = d.Kubeconfig
	}
	if c.Context == "" {
		c.Context = d.Context
	}
	return c
}

// REST builds the client configuration. A kubeconfig that is named but
// missing or unreadable is an error naming its path; with none named and
// none at ~/.kube/config, the in-cluster service account is used.
func (c Config) REST() (*rest.Config, error) {
	paths := filepath.SplitList(c.Kubeconfig)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrKubeconfig, p, err)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrKubeconfig, p, err)
		}
		f.Close()
	}
	if len(paths) == 0 {
		home, _ := os.UserHomeDir()
		def := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
			if rc, err := rest.InClusterConfig(); err == nil {
				return tune(rc), nil
			}
			return nil, fmt.Errorf("%w: none given (--kubeconfig, $KUBECONFIG), none at %s, and not running in a cluster", ErrKubeconfig, def)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if len(paths) > 0 {
		rules.Precedence = paths
	}
	over := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKubeconfig, c.describe(), err)
	}
	return tune(rc), nil
}

func (c Config) describe() string {
	s := c.Kubeconfig
	if s == "" {
		s = "~/.kube/config"
	}
	if c.Context != "" {
		s += " (context " + c.Context + ")"
	}
	return s
}

// tune sets what chaosctl needs of every client: a bound on each call,
// and enough rate for a run's watches and polls.
func tune(rc *rest.Config) *rest.Config {
	rc.Timeout = 30 * time.Second
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "chaosctl"
	return rc
}

// Connect returns a clientset for c. It does not talk to the server.
func Connect(_ context.Context, c Config) (kubernetes.Interface, error) {
	rc, err := c.REST()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKubeconfig, c.describe(), err)
	}
	return cs, nil
}
