package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/internal/kube"
	"github.com/chaosctl/chaosctl/plugins"
)

// inPodCluster is the pod shop/web-0 on node-1 and, when addr is set,
// a Ready node agent there answering at addr.
func inPodCluster(t *testing.T, addr string, more ...runtime.Object) (*fake.Clientset, *Fault) {
	t.Helper()
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	objs := append(namespaces(), testPod("uid-web", "docker://"+testContainerID))
	if addr != "" {
		objs = append(objs, agentPod("agent-1", testNode, addr, false))
	}
	c := fake.NewClientset(append(objs, more...)...)
	return c, onFake(c)
}

var podSel = plugins.Params{"namespace": "shop", "name": "web-0"}

// prepared runs Targets and Prepare as the engine does, with the schema's
// defaults filled in, and returns the request to inject.
func prepared(t *testing.T, f *Fault, action string, params plugins.Params) (plugins.InjectRequest, revertData) {
	t.Helper()
	ctx := context.Background()
	a, err := lookup(action)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params {
		if _, ok := params[p.Name]; !ok && p.Default != nil {
			params[p.Name] = p.Default
		}
	}
	if err := f.Validate(ctx, action, params, podSel); err != nil {
		t.Fatal(err)
	}
	ts, err := f.Targets(ctx, action, params, podSel)
	if err != nil || len(ts) != 1 {
		t.Fatalf("targets %+v %v", ts, err)
	}
	req := plugins.InjectRequest{Action: action, Params: params, Target: ts[0], Duration: time.Minute}
	if !a.Reversible {
		return req, revertData{} // the engine prepares reversible actions only
	}
	req.Prepared, err = f.Prepare(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var rd revertData
	if err := json.Unmarshal(req.Prepared, &rd); err != nil {
		t.Fatal(err)
	}
	return req, rd
}

// TestInPodActionsThroughAgent: each in-pod action asks the agent's
// plugin and action, with its parameters mapped, the pod's container by
// its Docker id, and the fault ID prepared before the inject.
func TestInPodActionsThroughAgent(t *testing.T) {
	byName := plugins.Params{"name": testContainerID}
	for _, tc := range []struct {
		action         string
		params         plugins.Params
		plugin, nodeAc string
		wantParams     plugins.Params
		wantSel        plugins.Params
	}{
		{"latency", plugins.Params{"delay": "100ms", "jitter": "10ms", "rate": "1mbit"}, "latency", "delay",
			plugins.Params{"delay": "100ms", "jitter": "10ms", "rate": "1mbit", "device": "eth0", "mode": "netem"}, byName},
		{"stress-cpu", plugins.Params{"workers": int64(2), "load": 50.0}, "stress", "cpu",
			plugins.Params{"workers": int64(2), "load": 50.0}, plugins.Params{"container": testContainerID}},
		{"stress-memory", plugins.Params{"mib": int64(64)}, "stress", "memory",
			plugins.Params{"mib": int64(64)}, plugins.Params{"container": testContainerID}},
		{"network-loss", plugins.Params{"percent": 30.0, "direction": "egress", "cidrs": []any{"10.0.0.0/8"}, "ports": []any{"5432"}}, "network", "loss",
			plugins.Params{"percent": 30.0, "direction": "egress", "cidrs": []any{"10.0.0.0/8"}, "ports": []any{"5432"}, "mode": "auto", "device": "eth0"}, byName},
		{"network-block", plugins.Params{"cidrs": []any{"10.96.0.0/12"}}, "network", "block",
			plugins.Params{"cidrs": []any{"10.96.0.0/12"}, "direction": "both", "reject": false}, byName},
		{"network-bandwidth", plugins.Params{"rate": "500kbit", "burst": int64(16384)}, "network", "bandwidth",
			plugins.Params{"rate": "500kbit", "burst": int64(16384), "device": "eth0"}, byName},
		{"network-dns", plugins.Params{"names": []any{"db.internal"}, "refuse": true}, "network", "dns",
			plugins.Params{"names": []any{"db.internal"}, "refuse": true}, byName},
		{"fill", plugins.Params{"path": "/data", "percent": 80.0, "container": "app", "allow_own_filesystem": true}, "docker", "fill",
			plugins.Params{"path": "/data", "percent": 80.0, "allow_own_filesystem": true}, byName},
	} {
		t.Run(tc.action, func(t *testing.T) {
			ctx := context.Background()
			ag := newFakeAgent(t)
			t.Setenv(agent.EnvLease, "9s")
			_, f := inPodCluster(t, ag.srv.URL)
			req, rd := prepared(t, f, tc.action, tc.params)
			if rd.Agent == nil || rd.Agent.ID == "" || rd.Agent.Addr != ag.srv.URL || rd.Agent.Node != testNode || rd.Agent.Pod != "chaosctl/agent-1" ||
				rd.Agent.Plugin != tc.plugin || rd.Agent.Action != tc.nodeAc || rd.Agent.Container != "app" || rd.Agent.ContainerID != testContainerID {
				t.Fatalf("prepared %+v", rd.Agent)
			}
			if got := ag.seen(); len(got) != 0 {
				t.Fatalf("Prepare asked the agent %v; it must only name the fault", got)
			}
			data, err := f.Inject(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			r := ag.lastInject(t)
			if r.ID != rd.Agent.ID || r.Plugin != tc.plugin || r.Action != tc.nodeAc || r.Lease != 9*time.Second || r.Duration != time.Minute ||
				!strings.Contains(r.By, "kubernetes "+tc.action+" on pod shop/web-0") {
				t.Fatalf("inject request %+v", r)
			}
			if !reflect.DeepEqual(r.Params, tc.wantParams) {
				t.Errorf("params %#v\nwant %#v", r.Params, tc.wantParams)
			}
			if !reflect.DeepEqual(r.Selector, tc.wantSel) {
				t.Errorf("selector %#v, want %#v", r.Selector, tc.wantSel)
			}
			st, err := f.Status(ctx, tc.action, data)
			if err != nil || !st.Active || st.Detail != "node agent chaosctl/agent-1 on node node-1: "+tc.plugin+" "+tc.nodeAc+" in effect" {
				t.Fatalf("status %+v %v", st, err)
			}
			if err := f.Revert(ctx, tc.action, data); err != nil {
				t.Fatal(err)
			}
			st, err = f.Status(ctx, tc.action, data)
			if err != nil || st.Active || st.Detail != "node agent chaosctl/agent-1 on node node-1: reverted: reverted by its controller" {
				t.Fatalf("status after revert %+v %v", st, err)
			}
			// A second revert finds it reverted: done.
			if err := f.Revert(ctx, tc.action, data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestContainerCrashThroughAgent: the crash is the agent's docker crash,
// done at once (the agent holds nothing); Status stays the API's.
func TestContainerCrashThroughAgent(t *testing.T) {
	ctx := context.Background()
	ag := newFakeAgent(t)
	_, f := inPodCluster(t, ag.srv.URL)
	req, _ := prepared(t, f, "container-crash", plugins.Params{"signal": "term"})
	data, err := f.Inject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := ag.lastInject(t)
	if r.Plugin != "docker" || r.Action != "crash" || !reflect.DeepEqual(r.Params, plugins.Params{"signal": "term"}) || r.Selector["name"] != testContainerID {
		t.Fatalf("inject request %+v", r)
	}
	var rd revertData
	_ = json.Unmarshal(data, &rd)
	if rd.Crash == nil || rd.Crash.ContainerID != testContainerID || rd.Crash.RestartCount != 2 || rd.Crash.Signal != "SIGTERM" || rd.Agent.ID != r.ID {
		t.Fatalf("revert data %s", data)
	}
	if got := ag.seen(); !reflect.DeepEqual(got, []string{"POST /v1/agent/faults"}) {
		t.Fatalf("agent calls %v, want the inject alone: the agent holds nothing of a crash", got)
	}
	st, err := f.Status(ctx, "container-crash", data)
	if err != nil || st.Active || !strings.Contains(st.Detail, "no crash seen yet: restartCount 2") {
		t.Fatalf("status %+v %v, want the API's account", st, err)
	}
}

// TestInPodRefusedByAgent: the agent plugin's refusal comes back with its
// words; nothing was injected.
func TestInPodRefusedByAgent(t *testing.T) {
	ctx := context.Background()
	ag := newFakeAgent(t)
	ag.refuse = []string{"target: latency unavailable: this kernel has no sch_netem module"}
	_, f := inPodCluster(t, ag.srv.URL)
	req, _ := prepared(t, f, "latency", plugins.Params{"delay": "50ms"})
	data, err := f.Inject(ctx, req)
	if !errors.Is(err, agent.ErrRefused) || !strings.Contains(err.Error(), "sch_netem") || !strings.Contains(err.Error(), "node agent chaosctl/agent-1 on node node-1") {
		t.Fatalf("inject: %v", err)
	}
	if data != nil {
		t.Fatalf("a refused inject returned revert data %s: nothing to revert", data)
	}
	// Any other failure may have left the fault at the agent: its revert
	// data goes back with the error.
	ag.refuse = nil
	ag.srv.Close()
	req.Prepared, _ = f.Prepare(ctx, req)
	if data, err := f.Inject(ctx, req); data == nil || !errors.Is(err, agent.ErrUnreachable) {
		t.Fatalf("inject with the agent gone: %s, %v", data, err)
	}
}

// TestInPodNoAgent: the agent-only actions say which node lacks an agent
// and what to deploy, at preflight already.
func TestInPodNoAgent(t *testing.T) {
	ctx := context.Background()
	newFakeAgent(t)
	for _, action := range []string{"latency", "stress-cpu", "stress-memory", "network-loss", "network-block", "network-bandwidth", "network-dns"} {
		t.Run(action, func(t *testing.T) {
			_, f := inPodCluster(t, "", agentPod("agent-2", "node-2", "https://a:1", false))
			_, err := f.Targets(ctx, action, plugins.Params{}, podSel)
			if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), "node node-1") || !strings.Contains(err.Error(), agentManifest) {
				t.Fatalf("targets: %v", err)
			}
			tg := target(kube.Selector{}, kube.KindPod, "shop", "web-0", "uid-web", map[string]string{attrNode: testNode})
			if _, err := f.Prepare(ctx, plugins.InjectRequest{Action: action, Params: plugins.Params{}, Target: tg}); !errors.Is(err, ErrNoAgent) {
				t.Fatalf("prepare: %v", err)
			}
		})
	}
}

func TestInPodNotDocker(t *testing.T) {
	ctx := context.Background()
	ag := newFakeAgent(t)
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	c := fake.NewClientset(append(namespaces(), testPod("uid-web", "containerd://"+testContainerID), agentPod("agent-1", testNode, ag.srv.URL, false))...)
	f := onFake(c)
	tg := target(kube.Selector{}, kube.KindPod, "shop", "web-0", "uid-web", map[string]string{attrNode: testNode})
	_, err := f.Prepare(ctx, plugins.InjectRequest{Action: "stress-cpu", Params: plugins.Params{}, Target: tg})
	if err == nil || !strings.Contains(err.Error(), "container app of pod shop/web-0 runs on containerd, not Docker") {
		t.Fatalf("prepare: %v", err)
	}
}

// TestInPodRevertOutcomes: what a revert makes of each answer, or of no
// answer.
func TestInPodRevertOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("never injected: unknown to the agent, done", func(t *testing.T) {
		ag := newFakeAgent(t)
		_, f := inPodCluster(t, ag.srv.URL)
		req, _ := prepared(t, f, "stress-cpu", plugins.Params{})
		if err := f.Revert(ctx, "stress-cpu", req.Prepared); err != nil {
			t.Fatal(err)
		}
		if st, err := f.Status(ctx, "stress-cpu", req.Prepared); err != nil || st.Active || !strings.Contains(st.Detail, "holds no fault") {
			t.Fatalf("status %+v %v", st, err)
		}
	})
	unreachable := func(t *testing.T, meddle func(c *fake.Clientset)) error {
		ag := newFakeAgent(t)
		c, f := inPodCluster(t, ag.srv.URL)
		req, _ := prepared(t, f, "network-loss", plugins.Params{"percent": 10.0})
		data, err := f.Inject(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ag.srv.Close()
		meddle(c)
		return f.Revert(ctx, "network-loss", data)
	}
	t.Run("agent unreachable, pod replaced: done", func(t *testing.T) {
		err := unreachable(t, func(c *fake.Clientset) {
			_ = c.CoreV1().Pods("shop").Delete(ctx, "web-0", metav1.DeleteOptions{})
			_, _ = c.CoreV1().Pods("shop").Create(ctx, testPod("uid-web-2", "docker://"+testContainerID), metav1.CreateOptions{})
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("agent unreachable, pod gone: done", func(t *testing.T) {
		if err := unreachable(t, func(c *fake.Clientset) { _ = c.CoreV1().Pods("shop").Delete(ctx, "web-0", metav1.DeleteOptions{}) }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("agent unreachable, pod still there: an error to retry", func(t *testing.T) {
		err := unreachable(t, func(*fake.Clientset) {})
		if !errors.Is(err, agent.ErrUnreachable) {
			t.Fatalf("revert: %v, want ErrUnreachable", err)
		}
	})
	t.Run("agent unreachable, and gone from the node: an error to retry", func(t *testing.T) {
		err := unreachable(t, func(c *fake.Clientset) {
			_ = c.CoreV1().Pods(agent.DefaultNamespace).Delete(ctx, "agent-1", metav1.DeleteOptions{})
		})
		if !errors.Is(err, agent.ErrUnreachable) || !strings.Contains(err.Error(), "no node agent runs on node node-1 now") {
			t.Fatalf("revert: %v", err)
		}
	})
	t.Run("agent moved: found again on the node", func(t *testing.T) {
		ag := newFakeAgent(t)
		c, f := inPodCluster(t, ag.srv.URL)
		req, _ := prepared(t, f, "network-loss", plugins.Params{"percent": 10.0})
		data, err := f.Inject(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		// The agent's pod is recreated elsewhere with the same ledger: a
		// second server on the same fault map stands for it.
		moved := newFakeAgent(t)
		ag.mu.Lock()
		moved.faults = ag.faults
		ag.mu.Unlock()
		ag.srv.Close()
		_ = c.CoreV1().Pods(agent.DefaultNamespace).Delete(ctx, "agent-1", metav1.DeleteOptions{})
		_, _ = c.CoreV1().Pods(agent.DefaultNamespace).Create(ctx, agentPod("agent-1b", testNode, moved.srv.URL, false), metav1.CreateOptions{})
		if err := f.Revert(ctx, "network-loss", data); err != nil {
			t.Fatal(err)
		}
		if got := moved.seen(); len(got) != 1 || !strings.HasPrefix(got[0], "DELETE ") {
			t.Fatalf("the moved agent was asked %v", got)
		}
	})
}

// fakeRenewer is an agent client counting renewals; its answers are set
// by the test.
type fakeRenewer struct {
	mu      sync.Mutex
	renews  int
	renewOK bool // false: ErrUnknownFault
	held    map[string]bool
}

func (r *fakeRenewer) Addr() string { return "https://agent.test:7071" }
func (r *fakeRenewer) Inject(_ context.Context, req agent.InjectRequest) (agent.Fault, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held[req.ID] = true
	return agent.Fault{ID: req.ID, State: agent.StateHeld}, nil
}
func (r *fakeRenewer) Renew(_ context.Context, id string) (agent.Fault, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.renews++
	if !r.renewOK || !r.held[id] {
		return agent.Fault{}, agent.ErrUnknownFault
	}
	return agent.Fault{ID: id, State: agent.StateHeld}, nil
}
func (r *fakeRenewer) Revert(_ context.Context, id string) (agent.Fault, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, id)
	return agent.Fault{ID: id, State: agent.StateReverted}, nil
}
func (r *fakeRenewer) Get(_ context.Context, id string) (agent.Fault, error) {
	return agent.Fault{ID: id, State: agent.StateHeld}, nil
}
func (r *fakeRenewer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.renews
}

// TestLeaseRenewals: the plugin renews every third of the lease while
// the fault is held, and stops at its revert, or when the agent no
// longer holds it (with a warning). Simulated time.
func TestLeaseRenewals(t *testing.T) {
	run := func(t *testing.T, renewOK bool, check func(t *testing.T, f *Fault, r *fakeRenewer, data []byte, logs *bytes.Buffer)) {
		synctest.Test(t, func(t *testing.T) {
			t.Setenv("KUBE_FEATURE_WatchListClient", "false")
			t.Setenv(agent.EnvLease, "30s")
			c := fake.NewClientset(append(namespaces(), testPod("uid-web", "docker://"+testContainerID), agentPod("agent-1", testNode, "https://agent.test:7071", false))...)
			r := &fakeRenewer{renewOK: renewOK, held: map[string]bool{}}
			var logs bytes.Buffer
			f := onFake(c)
			f.log = zerolog.New(&logs)
			f.dial = func(string) (agentClient, error) { return r, nil }
			req, _ := prepared(t, f, "stress-memory", plugins.Params{"mib": int64(8)})
			data, err := f.Inject(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			check(t, f, r, data, &logs)
		})
	}
	t.Run("every lease/3 until the revert", func(t *testing.T) {
		run(t, true, func(t *testing.T, f *Fault, r *fakeRenewer, data []byte, _ *bytes.Buffer) {
			time.Sleep(35 * time.Second)
			synctest.Wait()
			if n := r.count(); n != 3 {
				t.Fatalf("%d renewals in 35s, want 3 (every 10s)", n)
			}
			if err := f.Revert(context.Background(), "stress-memory", data); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			if n := r.count(); n != 3 {
				t.Fatalf("%d renewals, want none after the revert", n)
			}
		})
	})
	t.Run("stop when the agent no longer holds it", func(t *testing.T) {
		run(t, false, func(t *testing.T, f *Fault, r *fakeRenewer, data []byte, logs *bytes.Buffer) {
			time.Sleep(time.Minute)
			synctest.Wait()
			if n := r.count(); n != 1 {
				t.Fatalf("%d renewals, want 1 and then none", n)
			}
			var rd revertData
			_ = json.Unmarshal(data, &rd)
			if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), `"agent_fault":"`+rd.Agent.ID+`"`) ||
				!strings.Contains(logs.String(), `"node":"node-1"`) || !strings.Contains(logs.String(), "lease renewals stop") {
				t.Fatalf("log %s", logs)
			}
			if err := f.Revert(context.Background(), "stress-memory", data); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestAgentDialledOnce: the fact checks of a held fault (about one a
// second) reuse one client of the agent, and so its connections.
func TestAgentDialledOnce(t *testing.T) {
	ctx := context.Background()
	ag := newFakeAgent(t)
	_, f := inPodCluster(t, ag.srv.URL)
	dials := 0
	f.dial = func(addr string) (agentClient, error) { dials++; return dialAgent(addr) }
	req, _ := prepared(t, f, "network-block", plugins.Params{"ports": []any{"8080"}})
	data, err := f.Inject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := f.Status(ctx, "network-block", data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Revert(ctx, "network-block", data); err != nil {
		t.Fatal(err)
	}
	if dials != 1 {
		t.Fatalf("dialled the agent %d times, want once", dials)
	}
}
