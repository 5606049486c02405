// Command netcheck is the test workload of k8s/cluster/verify-netpol.sh: a static binary
// (standard library only) packed into a one-layer image by mkimage.py, so the NetworkPolicy
// checks need no docker image and no registry.
//
//	netcheck serve PORT...   HTTP on each port: "netcheck HOSTNAME PORT"; /healthz for probes
//	netcheck sleep           wait for SIGTERM (a client pod to exec into)
//	netcheck tcp HOST:PORT   open a TCP connection           (exit 0 = connected)
//	netcheck http URL        GET URL, print the body          (exit 0 = 2xx)
//	netcheck dns NAME        resolve NAME via /etc/resolv.conf (exit 0 = resolved)
//
// Client commands give up after NETCHECK_TIMEOUT (default 2s) and print one line.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netcheck serve PORT... | sleep | tcp HOST:PORT | http URL | dns NAME")
		os.Exit(2)
	}
	timeout := 2 * time.Second
	if v := os.Getenv("NETCHECK_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "serve":
		serve(args)
	case "sleep":
		waitForSignal()
	case "tcp":
		var c net.Conn
		if c, err = (&net.Dialer{}).DialContext(ctx, "tcp", arg(args)); err == nil {
			fmt.Printf("connected %s -> %s\n", c.LocalAddr(), c.RemoteAddr())
			c.Close()
		}
	case "http":
		err = get(ctx, arg(args))
	case "dns":
		var addrs []string
		if addrs, err = net.DefaultResolver.LookupHost(ctx, arg(args)); err == nil {
			fmt.Printf("%s -> %s\n", arg(args), strings.Join(addrs, ","))
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
}

func arg(args []string) string {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "netcheck: expected one argument")
		os.Exit(2)
	}
	return args[0]
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	fmt.Print(string(body))
	return nil
}

func serve(ports []string) {
	host, _ := os.Hostname()
	for _, p := range ports {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "netcheck %s %s\n", host, p) })
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		fmt.Printf("serving on :%s\n", p)
	}
	waitForSignal()
}

// waitForSignal blocks until SIGTERM/SIGINT (as PID 1 the default actions do not apply).
func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
