/// The commented config file `clipd run` writes on first run (when `clipd.toml` is missing
/// from the state directory and no `--config` is given), and `clipd config default`
/// prints. Every key is present, commented out, with its default value: the file changes
/// nothing until a line is uncommented. A test parses it and checks that it names every
/// key `DaemonConfiguration` knows.
public enum ConfigurationTemplate {
    public static let text = """
        # clipd configuration. Every key is optional; the values shown are the defaults.
        # Options given to `clipd run` win over this file. Check it with `clipd config check`;
        # a running daemon re-reads it (and peers.toml) on SIGHUP or `clipd config reload`.

        # Desktop clipboard: "auto" (Wayland when WAYLAND_DISPLAY is set, else X11 when
        # DISPLAY is set, else an in-memory clipboard), "wayland", "x11" or "memory".
        # Changing it takes effect when clipd restarts.
        # backend = "auto"

        # Selections to sync: "clipboard", and "primary" (the middle-click selection).
        # Takes effect when clipd restarts.
        # selections = ["clipboard"]

        # Accept paired peers on these addresses. Without it this machine only dials out.
        # listen = ["0.0.0.0:7439"]
        # listen = []

        # The largest item sent or accepted: plain bytes or K, M, G, KiB, MiB, GiB.
        # max_size = "64MiB"

        # Items from peers larger than this are fetched only when something pastes them.
        # "0" makes every item above 64 KiB wait for a paste.
        # lazy_above = "256KiB"

        # Memory for chunks kept beyond the items held: for deltas and relaying.
        # chunk_cache = "32MiB"

        # The name peers see. Default: this machine's host name. Takes effect on restart.
        # name = "desk"

        # Sync items a password manager marks secret (x-kde-passwordManagerHint).
        # Takes effect on restart.
        # sync_secrets = false

        # MIME types to sync besides text, text/html, text/uri-list and image/*.
        # Takes effect on restart.
        # extra_mime_types = []

        # Files copied in a file manager travel with their URIs and arrive as files.
        # sync_files = true

        # VM channels (virtio-serial port org.clipd.0) to guests running clipd:
        # "unix:PATH" connects to QEMU's chardev socket, "unix-listen:PATH" waits for QEMU,
        # a device path is a guest's own port (found by itself when this is empty).
        # virtio = []

        # SPICE agent ports (com.redhat.spice.0) of guests without clipd: Windows with the
        # virtio-win tools, Linux with spice-vdagent. Same forms as virtio; for a Windows
        # guest, "unix:PATH" is the socket of the port's holder (passvm run, passvm hold).
        # vdagent = []

        # Least severe messages logged: trace, debug, info, notice, warning, error.
        # log_level = "info"

        """
}
