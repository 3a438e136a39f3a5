// Command target is the demo and test service that scenarios break: a small
// HTTP server with /healthz and a data file, and an optional supervisor
// mode that restarts it when it dies (like systemd's Restart=always).
//
// It is built static (CGO_ENABLED=0) so it also runs in a FROM scratch image.
// /metrics serves its request counts by path and status code in the
// Prometheus text format, for the prometheus probe's tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	var (
		listen       = flag.String("listen", "127.0.0.1:8080", "address to serve on")
		pidfile      = flag.String("pidfile", "", "write the serving process's pid here")
		data         = flag.String("data", "", "data file served at /data; /healthz fails when it is missing")
		healthWrite  = flag.Bool("health-write", false, "/healthz also writes a small file next to -data (fails when the disk is full)")
		supervise    = flag.Bool("supervise", false, "run the server as a child and restart it when it exits")
		restartDelay = flag.Duration("restart-delay", 200*time.Millisecond, "supervisor: wait before restarting")
		startDelay   = flag.Duration("start-delay", 0, "wait before listening (a slow boot)")
		dependency   = flag.String("dependency", "", "URL that /api calls; /api fails when it fails")
		createData   = flag.Bool("create-data", false, "create the -data file (with a marker line) when it is missing")
		check        = flag.String("check", "", "health-check mode for FROM scratch images: GET this URL, exit 0 on 2xx, 1 otherwise")
		ignoreTerm   = flag.Bool("ignore-term", false, "ignore SIGTERM, as a server that hangs on shutdown does: docker stop must wait its timeout and SIGKILL it")
		wipeOnTerm   = flag.Bool("wipe-on-term", false, "on SIGTERM, delete the -data file before exiting (a shutdown that destroys its data: the disaster runbooks restore from)")
	)
	flag.Parse()
	// Microseconds in UTC: the tests read the true outage from this log.
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds | log.LUTC)
	if *check != "" {
		os.Exit(checkURL(*check))
	}
	if *createData && *data != "" {
		if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(*data, []byte("marker\n"), 0o644); err != nil {
				log.Fatalf("create data: %v", err)
			}
		}
	}
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	var err error
	if *supervise {
		err = superviseChild(ctx, *restartDelay)
	} else {
		err = serve(ctx, *listen, *pidfile, *data, *healthWrite, *startDelay, *dependency)
		if *wipeOnTerm && *data != "" && errors.Is(err, context.Canceled) {
			if rerr := os.Remove(*data); rerr != nil {
				log.Printf("wipe: %v", rerr)
			} else {
				log.Printf("wipe: deleted %s", *data)
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// superviseChild re-runs this binary without -supervise until ctx ends.
func superviseChild(ctx context.Context, delay time.Duration) error {
	var args []string
	for _, a := range os.Args[1:] {
		if a != "-supervise" && a != "--supervise" && a != "-supervise=true" {
			args = append(args, a)
		}
	}
	for {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start child: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return ctx.Err()
		case err := <-done:
			log.Printf("supervisor: child %d exited (%v); restarting in %s", cmd.Process.Pid, err, delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

func serve(ctx context.Context, addr, pidfile, data string, healthWrite bool, startDelay time.Duration, dependency string) error {
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pidfile: %w", err)
		}
	}
	time.Sleep(startDelay)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if data != "" {
			if _, err := os.Stat(data); err != nil {
				http.Error(w, "data file: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			if healthWrite {
				p := filepath.Join(filepath.Dir(data), ".health-probe")
				if err := os.WriteFile(p, make([]byte, 64<<10), 0o644); err != nil {
					http.Error(w, "write: "+err.Error(), http.StatusServiceUnavailable)
					return
				}
				_ = os.Remove(p)
			}
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		if data == "" {
			http.Error(w, "no data file", http.StatusNotFound)
			return
		}
		http.ServeFile(w, r, data)
	})
	client := &http.Client{Timeout: 5 * time.Second}
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		if dependency == "" {
			fmt.Fprintln(w, `{"api":"ok"}`)
			return
		}
		resp, err := client.Get(dependency)
		if err != nil {
			http.Error(w, "dependency: "+err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			http.Error(w, "dependency: "+resp.Status, http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, `{"api":"ok"}`)
	})
	// /net?resolve=NAME looks NAME up; /net?fetch=URL GETs URL. Each tries
	// once, for 2s: the network fault tests see the network from inside.
	mux.HandleFunc("/net", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if name := r.URL.Query().Get("resolve"); name != "" {
			addrs, err := net.DefaultResolver.LookupHost(ctx, name)
			if err != nil {
				http.Error(w, "resolve: "+err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, addrs)
			return
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL.Query().Get("fetch"), nil)
		if err == nil {
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				fmt.Fprintln(w, resp.Status)
				return
			}
		}
		http.Error(w, "fetch: "+err.Error(), http.StatusBadGateway)
	})
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "Requests served, by the path pattern they matched and the status code.",
	}, []string{"path", "code"})
	reg.MustRegister(requests)
	// No `up` of our own: Prometheus records up{job=...} itself at each
	// scrape (1 when it got an answer, 0 when not), and an exported one
	// would clash with it.
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	l, err := listenRetry(ctx, addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: countRequests(mux, requests), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("target %d serving on %s", os.Getpid(), l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// countRequests counts each request by the mux pattern it matched ("other"
// when none) and the status it got.
func countRequests(mux *http.ServeMux, requests *prometheus.CounterVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(sw, r)
		path := r.Pattern
		if path == "" {
			path = "other"
		}
		requests.WithLabelValues(path, strconv.Itoa(sw.code)).Inc()
	})
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// listenRetry binds addr, retrying briefly while a killed predecessor's
// socket is still being torn down.
func listenRetry(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	var err error
	for range 50 {
		var l net.Listener
		if l, err = lc.Listen(ctx, "tcp", addr); err == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("listen %s: %w", addr, err)
}

// checkURL is the -check mode: a healthcheck command for images without a shell.
func checkURL(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}
