package bundle

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/lvfsck/lvfsck/blobstore"
)

// Obfuscator maps names and values to tokens of the same length,
// consistently within one bundle: the same input always gives the same
// token, two inputs never share one. Tokens come from a keyed hash with a
// random key per bundle, so they say nothing about the original but its
// length.
type Obfuscator struct {
	key   []byte
	tok   map[string]string // original → token
	taken map[string]bool   // tokens handed out
	names map[string]bool   // originals known to be lvol or lvstore names
	// reserved are originals seen before any token was handed out: a token
	// equal to one would leave that original spelled out in the bundle
	// (and make two names one).
	reserved map[string]bool
}

// NewObfuscator returns an obfuscator with a fresh random key.
func NewObfuscator() *Obfuscator {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read does not fail on Linux
	return &Obfuscator{key: key, tok: map[string]string{}, taken: map[string]bool{}, names: map[string]bool{}, reserved: map[string]bool{}}
}

// Reserve records s as an original that no token may spell.
func (o *Obfuscator) Reserve(s string) {
	if s != "" {
		o.reserved[s] = true
	}
}

// free reports whether t may be handed out as a token.
func (o *Obfuscator) free(t string) bool {
	if o.taken[t] || o.reserved[t] || o.names[t] {
		return false
	}
	_, original := o.tok[t]
	return !original
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Token returns s's token. The empty string stays empty.
func (o *Obfuscator) Token(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if t, ok := o.tok[s]; ok {
		return t, nil
	}
	for attempt := uint32(0); attempt < 1<<12; attempt++ {
		m := hmac.New(sha256.New, o.key)
		m.Write([]byte(s))
		binary.Write(m, binary.LittleEndian, attempt) //nolint:errcheck // a hash never fails
		t := spell(m.Sum(nil), len(s))
		if o.free(t) && t != s {
			o.tok[s], o.taken[t] = t, true
			return t, nil
		}
	}
	return "", fmt.Errorf("obfuscate: no free token of length %d (too many names that short)", len(s))
}

// spell turns a hash into n token characters, a letter first (a token
// must stay a valid name); past 32 bytes the hash is stretched.
func spell(h []byte, n int) string {
	out := make([]byte, n)
	for i := range out {
		if i > 0 && i%len(h) == 0 {
			s := sha256.Sum256(h)
			h = s[:]
		}
		c := h[i%len(h)]
		if i == 0 {
			out[i] = tokenAlphabet[int(c)%26]
		} else {
			out[i] = tokenAlphabet[int(c)%len(tokenAlphabet)]
		}
	}
	return string(out)
}

// AddName records s as an lvol or lvstore name, so that the RPC answers,
// the journal and the log have it replaced wherever it stands.
func (o *Obfuscator) AddName(s string) {
	if s != "" {
		o.names[s] = true
	}
}

// Tokens is how many distinct originals were replaced.
func (o *Obfuscator) Tokens() int { return len(o.tok) }

// uuidRE matches a uuid: kept, even where it is an lvol's name.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// replaceString is the token of a whole JSON string that is a known name or
// an alias lvs/lvol made of known names; anything else is kept.
func (o *Obfuscator) replaceString(s string) (string, error) {
	if uuidRE.MatchString(s) {
		return s, nil
	}
	if o.names[s] {
		return o.Token(s)
	}
	if lvs, lvol, ok := strings.Cut(s, "/"); ok && o.names[lvs] && o.names[lvol] {
		a, err := o.Token(lvs)
		if err != nil {
			return "", err
		}
		b, err := o.Token(lvol)
		return a + "/" + b, err
	}
	return s, nil
}

// keptKeys are JSON keys whose string values are never names, whatever
// they spell: the kinds and the base device an answer needs to be read.
var keptKeys = map[string]bool{
	"type": true, "product_name": true, "claim_type": true, "base_bdev": true,
	"filename": true, "driver": true, "module": true, "method": true,
}

// HarvestJSON records the names an RPC answer holds (lvstore and lvol
// names, aliases), before any answer is rewritten.
func (o *Obfuscator) HarvestJSON(method string, raw []byte) {
	var v []map[string]any
	if json.Unmarshal(raw, &v) != nil {
		return
	}
	for _, e := range v {
		switch method {
		case "bdev_lvol_get_lvstores":
			if s, ok := e["name"].(string); ok {
				o.AddName(s)
			}
		case "bdev_lvol_get_lvols":
			if s, ok := e["name"].(string); ok {
				o.AddName(s)
			}
			if lvs, ok := e["lvs"].(map[string]any); ok {
				if s, ok := lvs["name"].(string); ok {
					o.AddName(s)
				}
			}
			if s, ok := e["alias"].(string); ok {
				o.addAlias(s)
			}
		case "bdev_get_bdevs":
			if al, ok := e["aliases"].([]any); ok {
				for _, a := range al {
					if s, ok := a.(string); ok {
						o.addAlias(s)
					}
				}
			}
		}
	}
}

func (o *Obfuscator) addAlias(s string) {
	if lvs, lvol, ok := strings.Cut(s, "/"); ok {
		o.AddName(lvs)
		o.AddName(lvol)
	}
}

// RewriteJSON replaces the names in a JSON document: every string value
// that is a known name or alias, wherever it stands, but under keptKeys.
func (o *Obfuscator) RewriteJSON(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // numbers as written: no float rounding of u64 ids
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("obfuscate: %w", err)
	}
	v, err := o.walk(v, "")
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(v, "", "  ")
}

func (o *Obfuscator) walk(v any, key string) (any, error) {
	var err error
	switch x := v.(type) {
	case string:
		if keptKeys[key] {
			return x, nil
		}
		return o.replaceString(x)
	case []any:
		for i := range x {
			if x[i], err = o.walk(x[i], key); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			if x[k], err = o.walk(e, k); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// nameWordRE finds the runs of a log line that could be names: SPDK
// separates them from the rest with "/", quotes, spaces, colons, commas.
var nameWordRE = regexp.MustCompile(`[A-Za-z0-9_.\-]+`)

// RewriteText replaces, in free text (a log), every run of name
// characters that is a known name (a sentence's final dots aside); an
// lvs/lvol alias is two such runs.
func (o *Obfuscator) RewriteText(s string) (string, error) {
	var err error
	out := nameWordRE.ReplaceAllStringFunc(s, func(w string) string {
		if err != nil || uuidRE.MatchString(w) {
			return w
		}
		name := w
		for !o.names[name] && strings.HasSuffix(name, ".") {
			name = name[:len(name)-1]
		}
		if !o.names[name] {
			return w
		}
		var t string
		t, err = o.Token(name)
		return t + w[len(name):]
	})
	return out, err
}

// rewritePage replaces, in one md page, the value of the name xattr and of
// every other user xattr but uuid. It returns nil when nothing changed. A
// page that does not decode is left as it is: it holds no xattr SPDK
// would read.
func (o *Obfuscator) rewritePage(b []byte) ([]byte, error) {
	p, err := blobstore.DecodePageUnchecked(b)
	if err != nil || p.IsExtentPage() {
		return nil, nil
	}
	changed := false
	for _, d := range p.Descriptors {
		x, ok := d.(*blobstore.Xattr)
		if !ok || x.Internal || x.Name == blobstore.XattrUUID || len(x.Value) == 0 {
			continue
		}
		v, err := o.value(x)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(v, x.Value) {
			x.Value, changed = v, true
		}
	}
	if !changed {
		return nil, nil
	}
	badCRC := blobstore.PageCRC(b) != p.CRC
	nb, err := blobstore.EncodePage(p)
	if err != nil {
		return nil, fmt.Errorf("obfuscate: re-encode md page: %w", err)
	}
	if badCRC {
		// The damage a check must still see: a CRC that does not match.
		binary.LittleEndian.PutUint32(nb[blobstore.PageSize-4:], ^blobstore.PageCRC(nb))
	}
	return nb, nil
}

// reserveImage reserves the string part of every user xattr value in the
// md pages of r between mdStart and mdEnd.
func (o *Obfuscator) reserveImage(ctx context.Context, r io.ReaderAt, mdStart, mdEnd int64) error {
	buf := make([]byte, chunkSize)
	for off := mdStart; off < mdEnd; off += chunkSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(chunkSize, mdEnd-off)]
		n, err := r.ReadAt(b, off)
		if err != nil && err != io.EOF {
			return fmt.Errorf("obfuscate: read md at %d: %w", off, err)
		}
		for p := 0; p+blobstore.PageSize <= n; p += blobstore.PageSize {
			pg, err := blobstore.DecodePageUnchecked(b[p : p+blobstore.PageSize])
			if err != nil || pg.IsExtentPage() {
				continue
			}
			for _, d := range pg.Descriptors {
				if x, ok := d.(*blobstore.Xattr); ok && !x.Internal && x.Name != blobstore.XattrUUID {
					v := x.Value
					if i := bytes.IndexByte(v, 0); i >= 0 {
						v = v[:i]
					}
					o.Reserve(string(v))
				}
			}
		}
		if n < len(b) {
			return nil
		}
	}
	return nil
}

// value is the obfuscated value of a user xattr: a NUL-terminated string
// (a name, most values) gets its string part replaced and the rest zeroed;
// anything else is replaced whole.
func (o *Obfuscator) value(x *blobstore.Xattr) ([]byte, error) {
	s := x.Value
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if x.Name == blobstore.XattrName {
		o.AddName(string(s))
	}
	t, err := o.Token(string(s))
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(x.Value))
	copy(out, t) // bytes past the string stay zero: remnants of older values go
	return out, nil
}
