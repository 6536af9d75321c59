import NIOCore

extension ChannelPipeline.SynchronousOperations {
    /// Adds a connection's handler behind a `BackPressureHandler`: while the channel does
    /// not take writes (its peer is not reading what it was sent), nothing more is read
    /// from it, so no request can make the daemon queue answers without bound.
    func addConnection(_ handler: ChannelHandler) throws {
        try addHandlers([BackPressureHandler(), handler])
    }
}
