package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The guard keeps its long holds (checksums, shallow copies) in a small file
// beside the journal, so that a restarted guard does not forget them. They
// are only worth anything against the same target incarnation: shallow
// copy operation ids restart with the target, and a restart ends every
// checksum.

type savedHold struct {
	Kind   HoldKind  `json:"kind"`
	Method string    `json:"method"`
	Names  []string  `json:"names"`
	Since  time.Time `json:"since"`
	OpID   *uint64   `json:"operation_id,omitempty"`
}

type savedState struct {
	Incarnation string      `json:"incarnation"`
	Holds       []savedHold `json:"holds"`
}

// snapshot lists the holds worth saving.
func (t *Tracker) snapshot() []savedHold {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []savedHold
	for h := range t.holds {
		if h.Kind == HoldLocked {
			continue // ends with its answer, within moments
		}
		s := savedHold{Kind: h.Kind, Method: h.Method, Names: h.Names, Since: h.Since}
		if h.hasOp {
			op := h.OpID
			s.OpID = &op
		}
		out = append(out, s)
	}
	return out
}

func writeState(path string, st savedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save guard state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save guard state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save guard state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save guard state: %w", err)
	}
	return nil
}

// saveLoop writes the holds whenever they change, coalescing bursts.
func (p *Proxy) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.saveNow()
			return
		case <-p.tr.changed:
		}
		p.saveNow()
	}
}

func (p *Proxy) saveNow() {
	if err := writeState(p.cfg.StateFile, savedState{Incarnation: p.inc, Holds: p.tr.snapshot()}); err != nil {
		p.log.Error().Err(err).Msg("guard: holds not saved; a restart would forget them")
	}
}

// restore takes over the holds a previous guard saved for this same target
// incarnation. A copy is polled until it ends; a checksum — which no RPC
// shows — is held for InheritedHold from when it began.
func (p *Proxy) restore() {
	b, err := os.ReadFile(p.cfg.StateFile)
	if err != nil {
		if !os.IsNotExist(err) {
			p.log.Warn().Err(err).Msg("guard: saved holds unreadable")
		}
		return
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		p.log.Warn().Err(err).Msg("guard: saved holds unreadable")
		return
	}
	if st.Incarnation == "" || st.Incarnation != p.inc {
		p.log.Info().Str("saved", st.Incarnation).Str("target", p.inc).Msg("guard: saved holds belong to another target run; dropped")
		return
	}
	for _, s := range st.Holds {
		h := p.tr.beginAt(s.Kind, s.Method, s.Names, s.Since)
		switch {
		case s.Kind == HoldCopy && s.OpID != nil:
			p.tr.SetOp(h, *s.OpID)
			p.tr.mu.Lock()
			h.lastCheck = time.Time{} // poll at once
			p.tr.mu.Unlock()
		case s.Kind == HoldChecksum:
			p.inherit(h)
		default:
			p.tr.End(h)
			continue
		}
		p.log.Warn().Strs("hold", p.tr.Describe([]*Hold{h})).Msg("guard: hold taken over from the previous guard")
	}
}

// inherit keeps a checksum whose answer the guard will not see (its
// connection is gone, the target still runs it) for InheritedHold from its
// start.
func (p *Proxy) inherit(h *Hold) {
	left := p.cfg.InheritedHold - time.Since(h.Since)
	time.AfterFunc(max(left, 0), func() { p.tr.End(h) })
}
