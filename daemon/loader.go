package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/internal/fsperm"
	"github.com/chaosctl/chaosctl/scenarios"
)

// loadDirs loads every *.toml file directly in dirs. A missing directory
// is reported once in the log and skipped. A directory or file that others
// than its owner may write, or that is owned by someone other than root or
// the daemon's user, is refused: its scenarios run commands as the daemon.
func (d *Daemon) loadDirs(ctx context.Context, dirs []string) (map[string]*scenarios.Scenario, []api.LoadError) {
	out := map[string]*scenarios.Scenario{}
	var errs []api.LoadError
	for _, dir := range dirs {
		if err := fsperm.Check(dir); err != nil {
			errs = append(errs, api.LoadError{File: dir, Errors: []string{fmt.Sprintf("%v: refusing to load scenario directory %s: %v", ErrUnsafeScenarioDir, dir, err)}})
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
		if err != nil {
			errs = append(errs, api.LoadError{File: dir, Errors: []string{err.Error()}})
			continue
		}
		if len(files) == 0 {
			if _, err := os.Stat(dir); err != nil {
				d.log.Warn().Str("dir", dir).Err(err).Msg("scenario directory skipped")
			}
		}
		sort.Strings(files)
		for _, f := range files {
			if err := fsperm.Check(f); err != nil {
				errs = append(errs, api.LoadError{File: f, Errors: []string{fmt.Sprintf("%v: refusing to load scenario file %s: %v", ErrUnsafeScenarioDir, f, err)}})
				continue
			}
			sc, err := scenarios.Load(ctx, f, d.catalog)
			if err != nil {
				le := api.LoadError{File: f}
				var list scenarios.ErrorList
				if errors.As(err, &list) {
					for _, e := range list {
						le.Errors = append(le.Errors, e.Error())
					}
				} else {
					le.Errors = []string{fmt.Sprintf("%s: %v", f, err)}
				}
				errs = append(errs, le)
				continue
			}
			if prev, dup := out[sc.Name]; dup {
				line, col := 1, 1
				if p, ok := sc.Pos.Get("name"); ok {
					line, col = p.Line, p.Col
				}
				errs = append(errs, api.LoadError{File: f, Errors: []string{
					fmt.Sprintf("%s:%d:%d: name: scenario %q is already defined in %s; this file is ignored", f, line, col, sc.Name, prev.Path),
				}})
				continue
			}
			out[sc.Name] = sc
		}
	}
	return out, errs
}

// watch reloads when a file in a scenario directory changes, debounced so
// that an editor's burst of writes is one reload. Each reload watches the
// directories configured then (syncWatch).
func (d *Daemon) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch scenario directories: %w", err)
	}
	d.reloadMu.Lock()
	d.watcher = w
	d.syncWatch(d.current().ScenarioDirs)
	d.reloadMu.Unlock()
	go func() {
		defer func() {
			d.reloadMu.Lock()
			d.watcher = nil
			d.reloadMu.Unlock()
			w.Close()
		}()
		var debounce <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// Any change, not only *.toml: a ConfigMap swaps a ..data
				// symlink and no event names a .toml file. Reload is cheap
				// and keeps what did not change.
				_ = ev
				debounce = time.After(200 * time.Millisecond)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn().Err(err).Msg("scenario watcher")
			case <-debounce:
				debounce = nil
				d.Reload(ctx, "file change")
			}
		}
	}()
	return nil
}

// syncWatch makes the watcher watch exactly dirs: a directory that did not
// exist at the last reload, or that a config reload added, is watched from
// now on. d.reloadMu is held.
func (d *Daemon) syncWatch(dirs []string) {
	if d.watcher == nil {
		return
	}
	want := map[string]bool{}
	for _, dir := range dirs {
		want[filepath.Clean(dir)] = true
	}
	watched := map[string]bool{}
	for _, p := range d.watcher.WatchList() {
		if watched[p] = true; !want[p] {
			_ = d.watcher.Remove(p)
		}
	}
	for _, dir := range dirs {
		dir = filepath.Clean(dir)
		if watched[dir] {
			continue
		}
		watched[dir] = true
		if err := d.watcher.Add(dir); err != nil {
			d.log.Warn().Str("dir", dir).Err(err).Msg("not watching scenario directory (reload with SIGHUP)")
		}
	}
}
