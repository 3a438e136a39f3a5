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

	"github.com/chaosctl/chaosctl/scenarios"
)

// LoadError is one scenario file that did not load. The other files keep
// running and stay scheduled.
type LoadError struct {
	File   string   `json:"file"`
	Errors []string `json:"errors"` // file:line:col: field: message
}

// loadDirs loads every *.toml file directly in dirs. A missing directory
// is reported once in the log and skipped.
func (d *Daemon) loadDirs(ctx context.Context) (map[string]*scenarios.Scenario, []LoadError) {
	out := map[string]*scenarios.Scenario{}
	var errs []LoadError
	for _, dir := range d.cfg.ScenarioDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
		if err != nil {
			errs = append(errs, LoadError{File: dir, Errors: []string{err.Error()}})
			continue
		}
		if len(files) == 0 {
			if _, err := os.Stat(dir); err != nil {
				d.log.Warn().Str("dir", dir).Err(err).Msg("scenario directory skipped")
			}
		}
		sort.Strings(files)
		for _, f := range files {
			sc, err := scenarios.Load(ctx, f, d.catalog)
			if err != nil {
				le := LoadError{File: f}
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
				if p, ok := sc.Pos["name"]; ok {
					line, col = p.Line, p.Col
				}
				errs = append(errs, LoadError{File: f, Errors: []string{
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
// that an editor's burst of writes is one reload.
func (d *Daemon) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch scenario directories: %w", err)
	}
	for _, dir := range d.cfg.ScenarioDirs {
		if err := w.Add(dir); err != nil {
			d.log.Warn().Str("dir", dir).Err(err).Msg("not watching scenario directory (reload with SIGHUP)")
		}
	}
	go func() {
		defer w.Close()
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
