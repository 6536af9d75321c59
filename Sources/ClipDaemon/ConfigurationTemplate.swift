/// The commented config file `clipd run` writes on first run (when `clipd.toml` is missing
/// from the state directory and no `--config` is given), and `clipd config default`
/// prints. Every key is present, commented out, with its default value: the file changes
/// nothing until a line is uncommented. Each key's paragraph comes from its entry in
/// `DaemonConfiguration.keys`.
public enum ConfigurationTemplate {
    public static let text = """
        # clipd configuration. Every key is optional; the values shown are the defaults.
        # Options given to `clipd run` win over this file. Check it with `clipd config check`;
        # a running daemon re-reads it (and peers.toml) on SIGHUP or `clipd config reload`.


        """ + DaemonConfiguration.keys.map { $0.template + "\n" }.joined(separator: "\n")
}
