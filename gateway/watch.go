package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets a burst of events (an editor's write, chmod and
// rename; a deploy tool's several writes) end in one reload.
const watchDebounce = 500 * time.Millisecond

// watchConfig reloads whenever the file at path changes, until ctx is done.
// It watches the file's directory, not the file: editors and deploy tools
// replace a file by renaming a new one over it, which ends a watch on the
// file itself. Kubernetes ConfigMap volumes swap a "..data" symlink in the
// same directory; that counts as a change too.
func (g *Gateway) watchConfig(ctx context.Context, path string, debounce time.Duration) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(abs)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch config directory %s: %w", dir, err)
	}
	g.log.Info("watching the config file for changes", "config", abs)
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Rename | fsnotify.Remove) {
				continue // chmod, and anything else that does not change content
			}
			if name := filepath.Clean(ev.Name); name == abs || filepath.Base(name) == "..data" {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			g.log.Warn("config file watcher", "err", err)
		case <-timer.C:
			g.log.Info("config reload requested", "source", "file change", "config", abs)
			// Reload logs its outcome; a half-written file fails to load
			// and the next event (the rest of the write) retries.
			_, _ = g.Reload(ctx)
		}
	}
}
