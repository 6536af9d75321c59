// The control protocol's messages, client, paths, version and error type live in
// ClipControl (Foundation and Glibc only), so passvm can talk to a daemon without linking
// the daemon. Everything that uses ClipDaemon sees them as before.
@_exported import ClipControl
