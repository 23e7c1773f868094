package realtgt

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Version is what the installed spdk_tgt says of itself (`spdk_tgt
// --version`, "SPDK v24.09.1-pre"), with the install's directory.
func Version() (string, error) {
	in, err := Setup()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(in.Bin(), "--version")
	cmd.Env = append(cmd.Environ(), "LD_LIBRARY_PATH="+in.LibraryPath(false))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("real spdk_tgt: %s --version: %w\n%s", in.Bin(), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// SlowDisk creates a malloc bdev of sizeMiB (4 KiB blocks) under a
// bdev_delay named name whose writes take writeUS each: a destination that
// keeps a shallow copy (which writes one cluster at a time) running, as the
// shallow-copy fixture did.
func (tg *Target) SlowDisk(ctx context.Context, name string, sizeMiB uint64, writeUS uint64) error {
	base := name + "-base"
	var got string
	if err := tg.Client.Call(ctx, "bdev_malloc_create", map[string]any{
		"name": base, "num_blocks": sizeMiB << 8, "block_size": 4096}, &got); err != nil {
		return fmt.Errorf("bdev_malloc_create %s: %w", base, err)
	}
	if err := tg.Client.Call(ctx, "bdev_delay_create", map[string]any{
		"base_bdev_name": base, "name": name,
		"avg_read_latency": 0, "p99_read_latency": 0,
		"avg_write_latency": writeUS, "p99_write_latency": writeUS}, &got); err != nil {
		return fmt.Errorf("bdev_delay_create %s: %w", name, err)
	}
	return nil
}

// SetWriteLatency changes a SlowDisk's write latency for the writes that
// start from now on (bdev_delay_update_latency); 0 lets a copy finish.
func (tg *Target) SetWriteLatency(ctx context.Context, name string, writeUS uint64) error {
	// avg before p99 when lowering: the target refuses an average above the p99.
	for _, typ := range []string{"avg_write", "p99_write"} {
		var ok bool
		if err := tg.Client.Call(ctx, "bdev_delay_update_latency", map[string]any{
			"delay_bdev_name": name, "latency_type": typ, "latency_us": writeUS}, &ok); err != nil {
			return fmt.Errorf("bdev_delay_update_latency %s %s: %w", name, typ, err)
		}
	}
	return nil
}

// NvmfTCP creates the TCP transport, which the real target needs before an
// lvol can be exported (the reload fixture did the same).
func (tg *Target) NvmfTCP(ctx context.Context) error {
	var ok bool
	if err := tg.Client.Call(ctx, "nvmf_create_transport", map[string]any{"trtype": "TCP"}, &ok); err != nil {
		return fmt.Errorf("nvmf_create_transport TCP: %w", err)
	}
	return nil
}
