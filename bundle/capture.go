package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/history"
	"github.com/lvfsck/lvfsck/internal/procfs"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

// Options is one capture.
type Options struct {
	Socket  string   // "" when only devices are captured
	Devices []string // base devices; with a socket and none given, the AIO bdevs' files
	Client  *spdk.Client
	// Answers, without a Client, are answers already captured, by method.
	Answers map[string][]byte
	// Events is the journal's timeline, nil when no journal was read.
	Events    []journal.Event
	LogFile   string // the target's log, "" for none
	Obfuscate bool
	TmpDir    string // where a gzip device image is decompressed
	Version   string
	Now       func() time.Time
	// Estimate, when set, is told the bytes of metadata about to be read,
	// before any is; Progress the bytes read so far.
	Estimate func(devices []string, bytes int64)
	Progress func(read, total int64)
}

// Result is what a capture wrote.
type Result struct {
	Manifest Manifest
	// Stored is the uncompressed bytes of all entries.
	Stored int64
}

// maxLog bounds the target's log taken: its tail, when longer.
const maxLog = 64 << 20

// Capture writes a bundle to out. A device that cannot be opened or read
// fails the capture (a bundle without the image it was asked for would
// check "clean"); an RPC method the target lacks is noted in the manifest.
func Capture(ctx context.Context, out io.Writer, o Options) (*Result, error) {
	now := o.Now()
	m := Manifest{Format: Format, Version: o.Version, Created: now.UTC(), Socket: o.Socket, Mode: string(scanner.ModeAuto), RPC: map[string]string{}}
	var ob *Obfuscator
	if o.Obfuscate {
		ob = NewObfuscator()
	}
	w := newWriter(out, now)
	answers, devices, err := gatherAnswers(ctx, o, &m, ob)
	if err != nil {
		return nil, err
	}
	if err := writeImages(ctx, w, o, devices, ob, &m); err != nil {
		return nil, err
	}
	if err := writeAnswers(w, answers, ob, &m); err != nil {
		return nil, err
	}
	if err := writeHistory(w, o, answers, ob); err != nil {
		return nil, err
	}
	if ob != nil {
		m.Obfuscated = obfuscationStatement(ob.Tokens())
	}
	if err := w.close(&m); err != nil {
		return nil, err
	}
	return &Result{Manifest: m, Stored: w.written}, nil
}

// gatherAnswers is step 1: the RPC answers, into memory (the target bounds
// each at 32 MiB), from the target or as given, and the devices to image
// (given, or discovered from the answers). With obfuscation, every name in
// them is harvested.
func gatherAnswers(ctx context.Context, o Options, m *Manifest, ob *Obfuscator) (map[string][]byte, []string, error) {
	answers := map[string][]byte{}
	if o.Client == nil && o.Answers != nil {
		answers = o.Answers
		if ob != nil {
			for _, meth := range Methods {
				ob.HarvestJSON(meth, answers[meth])
			}
		}
	}
	devices := o.Devices
	if o.Client != nil {
		m.Mode = string(scanner.ModeRecovery)
		var err error
		answers, err = askAll(ctx, o.Client, m)
		if err != nil {
			return nil, nil, err
		}
		if inc, err := o.Client.Incarnation(ctx); err != nil {
			m.Errors = append(m.Errors, fmt.Sprintf("incarnation: %v", err))
		} else {
			m.Incarnation = inc.String()
			if len(devices) == 0 {
				devices, err = discover(answers, inc.PID)
				if err != nil {
					return nil, nil, err
				}
			}
		}
		if len(devices) == 0 && m.Incarnation == "" {
			devices, _ = discover(answers, 0)
		}
		if ob != nil {
			for _, meth := range Methods {
				ob.HarvestJSON(meth, answers[meth])
			}
		}
	}
	return answers, devices, nil
}

// writeImages is step 2: the metadata image of each device, streamed chunk
// by chunk, after every device opened (so the estimate covers them all).
func writeImages(ctx context.Context, w *writer, o Options, devices []string, ob *Obfuscator, m *Manifest) error {
	var devs []imageDev
	defer func() {
		for _, d := range devs {
			d.d.Close()
		}
	}()
	var total int64
	for _, path := range devices {
		d, err := scanner.OpenContext(ctx, path, o.TmpDir)
		if err != nil {
			return fmt.Errorf("capture %s: %w", path, err)
		}
		spans, note := metadataSpans(d, d.Size())
		devs = append(devs, imageDev{d, spans, note})
		for _, s := range spans {
			total += s.n
		}
	}
	if o.Estimate != nil {
		o.Estimate(devices, total)
	}
	if ob != nil {
		if err := reserveOriginals(ctx, ob, devs, o.Events); err != nil {
			return err
		}
	}
	var read int64
	for i, dv := range devs {
		mdStart, mdEnd := mdRange(dv.d)
		st, err := writeImage(ctx, w, i, dv.d, dv.spans, ob, mdStart, mdEnd, func(n int64) {
			if o.Progress != nil {
				o.Progress(read+n, total)
			}
		})
		if err != nil {
			return fmt.Errorf("capture %s: %w", devices[i], err)
		}
		read += st.read
		info := ImageInfo{Index: i, Device: devices[i], Size: dv.d.Size(), Captured: st.stored, Note: dv.note}
		for _, s := range dv.spans {
			info.Regions = append(info.Regions, fmt.Sprintf("%d+%d", s.off, s.n))
		}
		m.Images = append(m.Images, info)
	}
	return nil
}

// imageDev is one device being imaged: its metadata spans, and a note on
// how they were found.
type imageDev struct {
	d     *scanner.Device
	spans []span
	note  string
}

// reserveOriginals reserves every original name, from the images and the
// journal's events, before the first token is handed out, so that no token
// spells another original.
func reserveOriginals(ctx context.Context, ob *Obfuscator, devs []imageDev, events []journal.Event) error {
	for _, dv := range devs {
		mdStart, mdEnd := mdRange(dv.d)
		if err := ob.reserveImage(ctx, dv.d, mdStart, mdEnd); err != nil {
			return err
		}
	}
	for _, e := range events {
		ob.Reserve(e.LvolName)
		for _, l := range []*journal.LvolObservation{e.Before, e.After} {
			if l != nil {
				ob.Reserve(l.Name)
				ob.Reserve(l.LvstoreName)
			}
		}
	}
	return nil
}

// writeAnswers is step 3: the answers, obfuscated once every name is known.
func writeAnswers(w *writer, answers map[string][]byte, ob *Obfuscator, m *Manifest) error {
	for _, meth := range Methods {
		b, ok := answers[meth]
		if !ok {
			continue
		}
		if ob != nil {
			var err error
			if b, err = ob.RewriteJSON(b); err != nil {
				return fmt.Errorf("%s: %w", meth, err)
			}
		}
		name := rpcDir + meth + ".json"
		if err := w.add(name, b); err != nil {
			return err
		}
		m.RPC[meth] = name
	}
	return nil
}

// writeHistory is step 4: the journal's history of these lvstores, and the
// tail of the target's log.
func writeHistory(w *writer, o Options, answers map[string][]byte, ob *Obfuscator) error {
	if o.Events != nil {
		b, err := journalExcerpt(o.Events, answers, ob)
		if err != nil {
			return err
		}
		if err := w.add(journalName, b); err != nil {
			return err
		}
	}
	if o.LogFile == "" {
		return nil
	}
	b, err := readTail(o.LogFile, maxLog)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	if ob != nil {
		s, err := ob.RewriteText(string(b))
		if err != nil {
			return err
		}
		b = []byte(s)
	}
	return w.add(logName, b)
}

// mdRange is the byte range of the md region, or the whole device when the
// super block does not say.
func mdRange(r *scanner.Device) (int64, int64) {
	page := make([]byte, blobstore.PageSize)
	if _, err := r.ReadAt(page, 0); err == nil {
		if sb, _ := blobstore.PeekSuperBlock(page); sb != nil && sb.MDLen > 0 {
			return sb.MDPageOffset(0), sb.MDPageOffset(sb.MDLen)
		}
	}
	return 0, r.Size()
}

// askAll asks every method of Methods. The lvstore and lvol lists are
// required; the others are noted in the manifest when they fail.
func askAll(ctx context.Context, c *spdk.Client, m *Manifest) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, meth := range Methods {
		var params any
		if meth == "notify_get_notifications" {
			params = map[string]uint64{"id": 0}
		}
		var raw json.RawMessage
		if err := c.Call(ctx, meth, params, &raw); err != nil {
			if meth == "bdev_lvol_get_lvstores" || meth == "bdev_lvol_get_lvols" || ctx.Err() != nil {
				return nil, fmt.Errorf("capture: %w", err)
			}
			m.Errors = append(m.Errors, err.Error())
			continue
		}
		out[meth] = raw
	}
	return out, nil
}

// discover finds the lvstores' base devices from the answers, as check
// does: the files of their AIO bdevs, relative ones against the target's
// working directory.
func discover(answers map[string][]byte, pid int) ([]string, error) {
	var a collect.Answers
	for meth, v := range map[string]any{"bdev_lvol_get_lvstores": &a.Lvstores, "bdev_lvol_get_lvols": &a.Lvols, "bdev_get_bdevs": &a.Bdevs} {
		if b, ok := answers[meth]; ok {
			if err := collect.DecodeAnswer(b, v); err != nil {
				return nil, fmt.Errorf("capture: %s: %w", meth, err)
			}
		}
	}
	live := collect.BuildLive(a)
	devices, undiscovered := collect.DiscoverDevices(&live, pid, procfs.Default)
	if len(undiscovered) > 0 {
		return nil, fmt.Errorf("capture: lvstore %s: its base bdev names no file (not an AIO bdev); pass its device with --device", undiscovered[0])
	}
	return devices, nil
}

// journalExcerpt is the history of the lvols of the lvstores in the
// answers (every event, when the answers name no lvstore), as JSON.
func journalExcerpt(evs []journal.Event, answers map[string][]byte, ob *Obfuscator) ([]byte, error) {
	var lvs []spdk.Lvstore
	if b, ok := answers["bdev_lvol_get_lvstores"]; ok {
		_ = collect.DecodeAnswer(b, &lvs)
	}
	keep := map[string]bool{}
	for _, l := range lvs {
		keep[l.UUID] = true
	}
	var sel []journal.Event
	for _, e := range evs {
		if len(keep) == 0 || e.LvstoreUUID == "" || keep[e.LvstoreUUID] {
			sel = append(sel, e)
		}
	}
	h := history.Build(sel, "", time.Time{})
	var buf jsonBuf
	if err := history.WriteJSON(&buf, h); err != nil {
		return nil, fmt.Errorf("journal excerpt: %w", err)
	}
	if ob == nil {
		return buf.b, nil
	}
	for _, e := range sel {
		for _, o := range []*journal.LvolObservation{e.Before, e.After} {
			if o != nil {
				ob.addAlias(o.Alias)
				ob.AddName(o.Name)
				ob.AddName(o.LvstoreName)
			}
		}
		ob.addAlias(e.LvolName)
	}
	b, err := ob.RewriteJSON(buf.b)
	if err != nil {
		return nil, err
	}
	// Summaries are sentences: their names go word by word.
	s, err := ob.RewriteText(string(b))
	return []byte(s), err
}

type jsonBuf struct{ b []byte }

func (j *jsonBuf) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }

// readTail reads path, or its last n bytes when longer.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New(path + ": not a regular file")
	}
	off := max(0, fi.Size()-n)
	return io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
}
