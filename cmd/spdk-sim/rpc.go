package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// `spdk-sim rpc` sends one call, for the demo and for poking at a target
// (the stand-in or a real one) by hand without rpc.py.
type simRPCOpts struct {
	socket  string
	timeout time.Duration
}

func newRPCCmd() *cobra.Command {
	o := &simRPCOpts{}
	cmd := &cobra.Command{
		Use:   "rpc METHOD [PARAMS-JSON]",
		Short: "send one JSON-RPC call to a target and print its result",
		Long: `rpc sends METHOD with PARAMS-JSON (an object, or nothing) to the target on
--socket and prints the result as JSON. An error answer is printed to stderr
and exits 4; a target that cannot be reached exits 8.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.timeout <= 0 {
				return usageError("--timeout %s: want a positive duration", o.timeout)
			}
			var params any
			if len(args) == 2 {
				var raw json.RawMessage
				if err := json.Unmarshal([]byte(args[1]), &raw); err != nil {
					return usageError("params: %v", err)
				}
				params = raw
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			c, err := spdk.Dial(ctx, o.socket)
			if err != nil {
				return exitCode(report.ExitOperational, fmt.Errorf("connect %s: %w", o.socket, err))
			}
			defer c.Close()
			var res json.RawMessage
			if err := c.Call(ctx, args[0], params, &res); err != nil {
				// spdk's errors name the method already.
				if _, ok := spdk.AsRPCError(err); ok {
					return exitCode(report.ExitUncorrected, err)
				}
				if errors.Is(err, context.DeadlineExceeded) {
					return exitCode(report.ExitOperational, fmt.Errorf("%s: no answer within %s", args[0], o.timeout))
				}
				return exitCode(report.ExitOperational, err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(res))
			return err
		},
	}
	cmd.Flags().StringVar(&o.socket, "socket", spdk.DefaultSocket, "the target's JSON-RPC unix socket")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of the call")
	return cmd
}
