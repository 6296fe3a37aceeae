import NIOSSL

/// The TLS side of an uplink's connection (https://, tls://): the platform's certificate checked
/// against `caFile` (or the system's roots), and a client certificate when both files are given.
enum ClientTLS {
    static func configuration(caFile: String?, certFile: String?, keyFile: String?) throws -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        if let caFile { c.trustRoots = .file(caFile) }
        if let certFile, let keyFile {
            c.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
            c.privateKey = .file(keyFile)
        }
        return c
    }
}
