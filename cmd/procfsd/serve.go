package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"procfsd/fs"
	"procfsd/fuseconn"
	"procfsd/history"
	"procfsd/metrics"
)

func init() { commands["serve"] = command{"run the daemon in the foreground", runServe} }

// serveFlags are the flags of docs/behaviour.md §1.1; the names are the contract.
type serveFlags struct {
	mountpoint      string
	procRoot        string
	cgroupRoot      string
	statsIsolated   string
	cpuView         string
	loadavgInterval time.Duration
	loadavgBudget   float64
	busyPoll        time.Duration
	stateDir        string
	logLevel        string
	logFormat       string
	supervise       bool
	metricsAddress  string
	metricsRemote   bool
}

func (f *serveFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.mountpoint, "mountpoint", "/var/lib/procfsd", "where to mount the tree (created if missing)")
	fl.StringVar(&f.procRoot, "proc-root", "/proc", "where host /proc is read from")
	fl.StringVar(&f.cgroupRoot, "cgroup-root", "/sys/fs/cgroup", "where the host cgroup hierarchies are read from")
	fl.StringVar(&f.statsIsolated, "stats-isolated", "1", "initial host switch: 1 isolates containers, 0 shows every caller the host")
	fl.StringVar(&f.cpuView, "cpu-view", "quota", "quota: a CFS quota reduces the CPU count; cpuset: only the cpuset does")
	fl.DurationVar(&f.loadavgInterval, "loadavg-interval", 5*time.Second, "how often load averages are sampled")
	fl.Float64Var(&f.loadavgBudget, "loadavg-budget", 100*history.DefaultLoadavgBudget, "percent of one CPU the load sampler may use; the costliest containers are sampled less often to stay within it")
	fl.DurationVar(&f.busyPoll, "busy-poll", fuseconn.DefaultBusyPoll, "how long a request loop polls for a request it expects (the next READ of a reader) before it sleeps; 0 never polls")
	fl.StringVar(&f.stateDir, "state-dir", "/run/procfsd", "persisted switch state and the control socket")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "json", "json or console")
	fl.BoolVar(&f.supervise, "supervise", false, "without systemd: a small parent keeps the mount and restarts the server if it dies")
	fl.StringVar(&f.metricsAddress, "metrics-address", "", "serve Prometheus metrics at /metrics on this loopback host:port or unix:/path; off if empty")
	fl.BoolVar(&f.metricsRemote, "metrics-allow-remote", false, "let --metrics-address be a non-loopback address (the metrics have no authentication)")
}

const serveUsage = `usage: procfsd serve [flags]

Run the daemon in the foreground: mount the tree at --mountpoint and answer each read of its
files for the reading container's cgroup, until SIGTERM or SIGINT (SIGHUP hands the mount over
to the binary now on disk).

example:
  procfsd serve --mountpoint /var/lib/procfsd --state-dir /run/procfsd --log-format console
`

func runServe(args []string, stderr io.Writer) error {
	var f serveFlags
	fl := newFlagSet("serve", serveUsage, stderr)
	f.register(fl.FlagSet)
	sw := registerSwitchFlags(fl.FlagSet)
	if err := fl.parse(args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	var maddr *metricsAddr
	if f.metricsAddress != "" {
		a, err := parseMetricsAddress(f.metricsAddress, f.metricsRemote)
		if err != nil {
			return err
		}
		maddr = &a
	} else if f.metricsRemote {
		return fmt.Errorf("%w: --metrics-allow-remote needs --metrics-address", errUsage)
	}
	sw.apply(&cfg)
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	cfg.Logger = log
	// Bound before anything changes, so that an address in use stops a start with one line
	// (docs/behaviour.md §1.4). A process that inherited a mount serves on without metrics:
	// refusing would take the mount down under every container.
	var ml net.Listener
	if maddr != nil {
		ml, err = maddr.listen()
		if err != nil {
			if os.Getenv(envFuseFD) == "" {
				return err
			}
			log.Error("serving without metrics", zap.Error(err))
		}
	}
	if err := lockStateDir(cfg.StateDir); err != nil {
		if os.Getenv(envFuseFD) == "" {
			return err
		}
		// This process inherited a mount it must go on serving (a handover from a version that
		// did not check the state dir, or a supervisor's server): refusing would take the mount
		// down under every container. It serves without the state dir instead.
		log.Error("state dir refused; serving without it (no control socket, journal or saved state)", zap.Error(err))
		cfg.StateDir = ""
	}
	if f.supervise {
		if ml != nil {
			ml.Close() // only checked: each server the supervisor starts binds it
		}
		return supervise(cfg, args)
	}
	return serve(cfg, ml)
}

// config validates the flags into the server's configuration.
func (f *serveFlags) config() (fs.Config, error) {
	cfg := fs.Config{
		Mountpoint:      f.mountpoint,
		ProcRoot:        f.procRoot,
		CgroupRoot:      f.cgroupRoot,
		LoadavgInterval: f.loadavgInterval,
		LoadavgBudget:   f.loadavgBudget / 100,
		BusyPoll:        f.busyPoll,
		StateDir:        f.stateDir,
	}
	switch f.statsIsolated {
	case "1":
		cfg.StatsIsolated = true
	case "0":
	default:
		return cfg, fmt.Errorf("%w: --stats-isolated must be 1 or 0, got %q", errUsage, f.statsIsolated)
	}
	switch f.cpuView {
	case "quota":
		cfg.QuotaView = true
	case "cpuset":
	default:
		return cfg, fmt.Errorf("%w: --cpu-view must be quota or cpuset, got %q", errUsage, f.cpuView)
	}
	if f.loadavgInterval <= 0 {
		return cfg, fmt.Errorf("%w: --loadavg-interval must be positive", errUsage)
	}
	if !(f.loadavgBudget > 0 && f.loadavgBudget <= 100) {
		return cfg, fmt.Errorf("%w: --loadavg-budget must be a percentage above 0 and at most 100, got %v", errUsage, f.loadavgBudget)
	}
	if f.busyPoll < 0 || f.busyPoll > time.Millisecond {
		return cfg, fmt.Errorf("%w: --busy-poll must be between 0 and 1ms, got %s", errUsage, f.busyPoll)
	}
	return cfg, nil
}

func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("%w: --log-format must be json or console, got %q", errUsage, format)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(w), lvl)), nil
}

// serve mounts the tree and answers requests until SIGTERM or SIGINT, then unmounts, unless
// systemd keeps the connection for a restart (sdglue.go) or a supervisor owns the mount
// (supervise.go). SIGHUP hands the connection over to a fresh execution of the binary on disk
// (handover.go).
func serve(cfg fs.Config, ml net.Listener) error {
	// First, so that a SIGHUP during start-up is kept for later, not fatal (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	setMinProcs()
	cfg.RequestTimeoutWarning = checkRequestTimeouts(cfg.Logger)
	life := newLifecycle(cfg.Logger, cfg.Mountpoint)
	cfg.OnReady = func() {
		life.ready()
		announceReady(cfg.StateDir, cfg.Logger)
	}
	cfg.Metrics = metrics.New(metrics.SharedTree)
	srv, err := fs.New(cfg)
	if err != nil {
		return err
	}
	conn, err := connect(srv, life, cfg)
	if err != nil {
		return err
	}
	// A supervisor's first server adopts the mount the supervisor made: no predecessor died.
	cfg.Metrics.Started(life.handover, life.adopted && !life.handover && !(supervised() && generation() == 1))
	if ml != nil {
		defer serveMetrics(ml, cfg.Metrics, cfg.Logger).Close()
	}
	if !supervised() {
		if err := writePidFile(cfg.StateDir); err != nil {
			cfg.Logger.Warn("pidfile", zap.Error(err))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Logger.Info("serving", zap.String("mountpoint", cfg.Mountpoint), zap.String("version", version))
	var serveErr error
	for {
		round, cancel := context.WithCancel(ctx)
		var handing atomic.Bool
		go func() {
			select {
			case <-hup:
				handing.Store(true)
				cancel()
			case <-round.Done():
			}
		}()
		serveErr = srv.Serve(round, conn)
		cancel()
		if !handing.Load() || serveErr != nil {
			break
		}
		err := handOver(srv, conn, cfg.Logger)
		signal.Notify(hup, syscall.SIGHUP) // handOver ignored it for the exec
		cfg.Logger.Error("handover failed; serving on", zap.Error(err))
		conn = fuseconn.Adopt(conn.FD, cfg.Mountpoint, conn.InitRequest())
	}
	switch {
	case supervised():
		cfg.Logger.Info("leaving the mount to the supervisor")
	case life.stopping():
		cfg.Logger.Info("leaving the mount to systemd, which keeps the connection for a restart")
	default:
		if err := conn.Unmount(); err != nil {
			cfg.Logger.Warn("unmount", zap.Error(err))
		}
	}
	if !supervised() { // a supervised server wrote no pidfile: its supervisor's is the one
		removePidFile(cfg.StateDir, cfg.Logger)
	}
	cfg.Logger.Info("stopped", zap.String("mountpoint", cfg.Mountpoint))
	return serveErr
}

// minProcs is the fewest scheduler slots (GOMAXPROCS) serve runs with.
const minProcs = 4

// setMinProcs raises GOMAXPROCS to minProcs on a node with fewer CPUs, unless the environment
// sets it. Each slot runs one thread of Go code at a time; with two on a 2-CPU node whose CPUs
// are busy, the load sampler and the request loops, which make many short system calls, wait
// for a slot, and many containers' load averages go more than two intervals without a sample.
// Four slots keep them fresh at the same memory for somewhat more CPU per read (docs/read-path.md,
// "Four scheduler slots at least, 1024 background requests"; figures in BENCHMARKS.md).
func setMinProcs() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
}
