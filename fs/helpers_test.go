package fs

const hostProc = "../testdata/hosts/debian12-2cpu/proc"

// hostOn is the host switch stats_isolated of srv.
func hostOn(srv *Server) bool {
	on, _ := srv.switches.Host()
	return on
}
