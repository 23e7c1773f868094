package sim

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seedRequests adds every request of the captured transcripts, alone and
// concatenated (a stream), to the corpus.
func seedRequests(f *testing.F) {
	files, _ := filepath.Glob("../testdata/fixtures/*.transcript.json")
	var stream []byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var tr []struct {
			Request json.RawMessage `json:"request"`
		}
		if err := json.Unmarshal(b, &tr); err != nil {
			f.Fatal(err)
		}
		for i, e := range tr {
			f.Add([]byte(e.Request))
			if i < 8 {
				stream = append(stream, e.Request...)
			}
		}
	}
	f.Add(stream)
	f.Add([]byte(`{"jsonrpc":"2.0","method":"sim_lvol_write","id":1,"params":{"name":"x","offset":1,"length":2}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"bdev_get_iostat","id":1,"params":{"name":"aio0"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"nvmf_create_subsystem","id":1,"params":{"nqn":"nqn.a:b"}}` +
		`{"jsonrpc":"2.0","method":"nvmf_subsystem_add_ns","id":2,"params":{"nqn":"nqn.a:b","namespace":{"bdev_name":"x","nsid":4294967295}}}` +
		`{"jsonrpc":"2.0","method":"nvmf_get_subsystems","id":3}`))
	f.Add([]byte(`}{`))
	f.Add([]byte(`[1,2]`))
}

func FuzzParseRequest(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err == nil && req == nil {
			t.Fatal("no request and no error")
		}
		if err != nil && err.Code != codeInvalidRequest {
			t.Fatalf("unexpected code %d", err.Code)
		}
	})
}

// FuzzServeStream feeds arbitrary bytes to a connection of a target with
// no devices: it must answer or close, never panic or hang.
func FuzzServeStream(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tgt, err := New(Config{OpDuration: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// Never let fuzz input open files on this machine.
		delete(tgt.methods, "bdev_aio_create")
		srv, cli := net.Pipe()
		tgt.conns[srv] = struct{}{}
		done := make(chan struct{})
		go func() { tgt.serveConn(srv); close(done) }()
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		_ = cli.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = cli.Write(b)
		cli.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("serveConn did not end")
		}
		tgt.Crash()
	})
}
