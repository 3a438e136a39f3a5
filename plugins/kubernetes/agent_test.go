package kubernetes

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// fakeAgent is an httptest server standing in for the node agent's API:
// the wire contract of internal/agent, faults kept in memory. The real
// agent is proven against a real cluster in test/.
type fakeAgent struct {
	srv    *httptest.Server
	token  string
	refuse []string // inject answers 422 with these field errors

	mu      sync.Mutex
	faults  map[string]*agent.Fault
	injects []agent.InjectRequest
	calls   []string // "POST /v1/agent/faults", ...
}

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	a := &fakeAgent{token: "s3cret", faults: map[string]*agent.Fault{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/agent/faults", func(w http.ResponseWriter, r *http.Request) {
		var req agent.InjectRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			a.answer(w, http.StatusBadRequest, agent.ErrorBody{Error: err.Error()})
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.injects = append(a.injects, req)
		if len(a.refuse) > 0 {
			a.answer(w, http.StatusUnprocessableEntity, agent.ErrorBody{Error: "invalid parameters", Errors: a.refuse})
			return
		}
		until := time.Now().Add(req.Lease)
		f := &agent.Fault{ID: req.ID, Plugin: req.Plugin, Action: req.Action, State: agent.StateHeld, By: req.By, LeaseUntil: &until,
			Status: &plugins.Status{Active: true, Detail: req.Plugin + " " + req.Action + " in effect"}}
		if req.Plugin == "docker" && req.Action == "crash" {
			// As the real agent does: an instantaneous fault is done at once.
			now := time.Now()
			f.State, f.RevertedAt, f.LeaseUntil, f.Status = agent.StateReverted, &now, nil, nil
			f.Notes = []string{"instantaneous: nothing to revert"}
		}
		a.faults[req.ID] = f
		a.answer(w, http.StatusCreated, f)
	})
	one := func(do func(f *agent.Fault)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			defer a.mu.Unlock()
			f, ok := a.faults[r.PathValue("id")]
			if !ok {
				a.answer(w, http.StatusNotFound, agent.ErrorBody{Error: "no such fault", Code: agent.CodeUnknownFault})
				return
			}
			do(f)
			a.answer(w, http.StatusOK, f)
		}
	}
	mux.HandleFunc("POST /v1/agent/faults/{id}/renew", one(func(*agent.Fault) {}))
	mux.HandleFunc("GET /v1/agent/faults/{id}", one(func(*agent.Fault) {}))
	mux.HandleFunc("DELETE /v1/agent/faults/{id}", one(func(f *agent.Fault) {
		if f.State == agent.StateHeld {
			now := time.Now()
			f.State, f.RevertedAt, f.LeaseUntil, f.Status = agent.StateReverted, &now, nil, nil
			f.Notes = append(f.Notes, "reverted by its controller")
		}
	}))
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+a.token {
			a.answer(w, http.StatusUnauthorized, agent.ErrorBody{Error: "bad token"})
			return
		}
		a.mu.Lock()
		a.calls = append(a.calls, r.Method+" "+r.URL.Path)
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(a.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(agent.EnvTokenFile, tok)
	// The agents' CA, for the https addresses of discovery (the fake
	// itself answers plain http on loopback).
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.Close()
	t.Setenv(agent.EnvCAFile, ca)
	return a
}

func (a *fakeAgent) answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *fakeAgent) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

func (a *fakeAgent) lastInject(t *testing.T) agent.InjectRequest {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.injects) == 0 {
		t.Fatal("the agent was asked no inject")
	}
	return a.injects[len(a.injects)-1]
}

// Objects of the tests: pod shop/web-0 on node-1, its container app
// running on Docker, and node agents.
const (
	testNode        = "node-1"
	testContainerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func testPod(uid types.UID, containerID string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: uid, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: containerID, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "sidecar", ContainerID: "docker://" + strings.Repeat("f", 64), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		}},
	}
}

// agentPod is a node agent's pod on node, Ready unless notReady, at addr
// (its annotation; "" for its pod IP).
func agentPod(name, node, addr string, notReady bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: agent.DefaultNamespace, Name: name, UID: types.UID("uid-" + name),
			Labels: map[string]string{agent.PodLabelKey: agent.PodLabelValue}},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.2.3",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if addr != "" {
		p.Annotations = map[string]string{agent.AddressAnnotation: addr}
	}
	if notReady {
		p.Status.Conditions[0].Status = corev1.ConditionFalse
	}
	return p
}

func namespaces() []runtime.Object {
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agent.DefaultNamespace}},
	}
}

func TestFindAgent(t *testing.T) {
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	newFakeAgent(t) // the token
	ctx := context.Background()
	terminating := agentPod("agent-old", testNode, "", false)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	terminating.Finalizers = []string{"test"}
	other := agentPod("agent-x", testNode, "", false)
	other.Labels = map[string]string{"app": "something-else"}
	for _, tc := range []struct {
		name   string
		pods   []runtime.Object
		ns     string // $CHAOSCTL_AGENT_NAMESPACE
		want   string // the agent's URL; "": none
		wantOn string // its pod
	}{
		{name: "address annotation", pods: []runtime.Object{agentPod("agent-a", testNode, "agent-a.chaosctl.svc:7443", false)},
			want: "https://agent-a.chaosctl.svc:7443", wantOn: "chaosctl/agent-a"},
		{name: "pod IP", pods: []runtime.Object{agentPod("agent-a", testNode, "", false)}, want: "https://10.1.2.3:7071", wantOn: "chaosctl/agent-a"},
		{name: "not ready", pods: []runtime.Object{agentPod("agent-a", testNode, "", true)}},
		{name: "other node", pods: []runtime.Object{agentPod("agent-a", "node-2", "", false)}},
		{name: "terminating", pods: []runtime.Object{terminating}},
		{name: "not labelled", pods: []runtime.Object{other}},
		{name: "ready one of two", pods: []runtime.Object{agentPod("agent-a", testNode, "", true), agentPod("agent-b", testNode, "", false)},
			want: "https://10.1.2.3:7071", wantOn: "chaosctl/agent-b"},
		{name: "other namespace, from the environment", ns: "chaos-agents", pods: []runtime.Object{
			func() *corev1.Pod {
				p := agentPod("agent-a", testNode, "https://a:1", false)
				p.Namespace = "chaos-agents"
				return p
			}()},
			want: "https://a:1", wantOn: "chaos-agents/agent-a"},
		{name: "default namespace only", pods: []runtime.Object{
			func() *corev1.Pod {
				p := agentPod("agent-a", testNode, "https://a:1", false)
				p.Namespace = "chaos-agents"
				return p
			}()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(agent.EnvNamespace, tc.ns)
			c := fake.NewClientset(tc.pods...)
			ag, err := onFake(c).findAgent(ctx, c, testNode)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && ag != nil:
				t.Fatalf("found %s at %s, want none", ag.Pod, ag.client.Addr())
			case tc.want != "" && ag == nil:
				t.Fatalf("found none, want %s", tc.want)
			case tc.want != "" && (ag.client.Addr() != tc.want || ag.Pod != tc.wantOn):
				t.Fatalf("found %s at %s, want %s at %s", ag.Pod, ag.client.Addr(), tc.wantOn, tc.want)
			}
		})
	}
}

func TestFindAgentErrors(t *testing.T) {
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	ctx := context.Background()
	c := fake.NewClientset(agentPod("agent-a", testNode, "", false))
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))
	})
	if _, err := onFake(c).findAgent(ctx, c, testNode); !errors.Is(err, kube.ErrForbidden) || !strings.Contains(err.Error(), "cannot list pods in namespace chaosctl") {
		t.Fatalf("forbidden list: %v", err)
	}
	// An agent without the token to reach it is an error, not "no agent".
	t.Setenv(agent.EnvTokenFile, "")
	c = fake.NewClientset(agentPod("agent-a", testNode, "", false))
	if _, err := onFake(c).findAgent(ctx, c, testNode); err == nil || !strings.Contains(err.Error(), agent.EnvTokenFile) {
		t.Fatalf("no token: %v", err)
	}
}

func TestAgentLease(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
		bad  bool
	}{
		{"", agent.DefaultLease, false},
		{"9s", 9 * time.Second, false},
		{"1s", 0, true},
		{"1h", 0, true},
		{"soon", 0, true},
	} {
		t.Setenv(agent.EnvLease, tc.env)
		got, err := agentLease()
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%s=%q: %s, %v", agent.EnvLease, tc.env, got, err)
		}
	}
}
