// Package switches holds procfsd's two switches (docs/behaviour.md §3): stats_isolated for the host
// and container_stats_isolated per container. A Board keeps them, takes them from their sources
// (the control files, ctl, the OCI hook's annotation, Docker labels), decides who may change them,
// keeps them in switches.json across restarts, and on a TencentOS kernel that virtualizes /proc
// itself drives its sysctls instead (native mode, with the native helper).
package switches
