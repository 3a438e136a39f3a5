package daemon

import (
	"context"
	"reflect"
	"strings"
)

// reloadable are the config keys a reload (SIGHUP) applies to a running
// daemon. Every other key is read once, at start: the listeners, the store,
// the plugin host and the logger are built from it, so a change to it is
// logged as needing a restart. A key added to Config needs a restart until
// it is listed here.
var reloadable = map[string]bool{
	"scenario_dirs":                true,
	"defaults.max_concurrent_runs": true,
	"defaults.history_limit":       true,
	"policy.max_targets":           true,
	"policy.allow_commands":        true,
}

// Hangup is SIGHUP: the config file, then the scenarios, are read again.
// It never stops the daemon; an invalid config file changes nothing.
func (d *Daemon) Hangup(ctx context.Context) {
	_ = d.ReloadConfig()
	d.Reload(ctx, "SIGHUP")
}

// current is the config in effect: the one the daemon started with, with
// the reloadable keys as the last reload set them.
func (d *Daemon) current() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// ReloadConfig reads the daemon's config file again and applies the keys
// that can change while it runs (see reloadable); every other change is
// logged as needing a restart. An invalid file is logged and changes
// nothing. A daemon started without a config file has nothing to reload.
func (d *Daemon) ReloadConfig() error {
	path := d.cfg.Path
	if path == "" {
		return nil
	}
	log := d.log.With().Str("config", path).Logger()
	next, err := LoadConfig(path)
	if err != nil {
		log.Error().Err(err).Msg("config not reloaded: the daemon keeps the config it has")
		return err
	}
	var applied, restart []string
	d.mu.Lock()
	for _, key := range configDiff(d.cur, next) {
		if reloadable[key] {
			setConfigKey(&d.cur, next, key)
			applied = append(applied, key)
		} else {
			restart = append(restart, key)
		}
	}
	d.mu.Unlock()
	if applied == nil {
		applied = []string{}
	}
	log.Info().Strs("applied", applied).Msg("config reloaded")
	if len(restart) > 0 {
		log.Warn().Strs("need_restart", restart).Msg("config changed where only a restart applies it; running with the old values of these keys")
	}
	return nil
}

// configDiff lists the keys whose values differ between a and b, in the
// order of Config's fields.
func configDiff(a, b Config) []string {
	var out []string
	var walk func(x, y reflect.Value, prefix string)
	walk = func(x, y reflect.Value, prefix string) {
		for i := range x.NumField() {
			key := tomlKey(x.Type().Field(i))
			if key == "" {
				continue
			}
			key = prefix + key
			fx, fy := x.Field(i), y.Field(i)
			if isTable(fx.Type()) {
				walk(fx, fy, key+".")
				continue
			}
			if !reflect.DeepEqual(fx.Interface(), fy.Interface()) {
				out = append(out, key)
			}
		}
	}
	walk(reflect.ValueOf(a), reflect.ValueOf(b), "")
	return out
}

// setConfigKey sets key (as configDiff names it) in dst to its value in src.
func setConfigKey(dst *Config, src Config, key string) {
	x, y := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for _, part := range strings.Split(key, ".") {
		i := fieldIndex(x.Type(), part)
		if i < 0 {
			panic("daemon: no config key " + key) // keys come from configDiff
		}
		x, y = x.Field(i), y.Field(i)
	}
	x.Set(y)
}

// fieldIndex is the index of the field of t whose key is key, -1 if none.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if tomlKey(t.Field(i)) == key {
			return i
		}
	}
	return -1
}
