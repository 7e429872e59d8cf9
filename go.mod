module procfsd

go 1.26.0

require (
	github.com/containerd/cgroups/v3 v3.1.3
	github.com/google/go-cmp v0.7.0
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/prometheus/procfs v0.23.0
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.49.0
)
