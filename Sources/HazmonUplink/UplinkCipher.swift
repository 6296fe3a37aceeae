import CryptoExtras
import Crypto
import Foundation

/// AES-CBC with PKCS#7 padding (swift-crypto), as access specifications of some provincial
/// platforms ask: each message becomes Base64 text. With a fixed IV (`iv_file`) the text is the
/// ciphertext alone; otherwise a random IV per message is sent as its first 16 bytes.
public struct UplinkCipher: Sendable {
    let key: SymmetricKey
    let fixedIV: [UInt8]?

    /// `key` of 16 (AES-128) or 32 (AES-256) bytes; `iv` of 16 bytes, or nil for a random one each time.
    public init(key: [UInt8], iv: [UInt8]?) throws {
        guard key.count == 16 || key.count == 32 else { throw UplinkError("an AES key is 16 or 32 bytes, not \(key.count)") }
        if let iv, iv.count != 16 { throw UplinkError("an AES-CBC IV is 16 bytes, not \(iv.count)") }
        self.key = SymmetricKey(data: key)
        self.fixedIV = iv
    }

    /// The message's Base64 ciphertext (with the IV in front unless it is fixed).
    public func seal(_ message: String) throws -> String {
        let ivBytes = fixedIV ?? (0..<16).map { _ in UInt8.random(in: 0...255) }
        let iv = try AES._CBC.IV(ivBytes: ivBytes)
        let sealed = try AES._CBC.encrypt(Array(message.utf8), using: key, iv: iv)
        return (fixedIV == nil ? Data(ivBytes) + sealed : sealed).base64EncodedString()
    }

    /// The message back from `seal`'s text (for tests and for a platform's side of a check).
    public func open(_ text: String) throws -> String {
        guard let data = Data(base64Encoded: text) else { throw UplinkError("not Base64") }
        let (ivBytes, body) = fixedIV.map { ($0, data) } ?? (Array(data.prefix(16)), data.dropFirst(16))
        let plain = try AES._CBC.decrypt(body, using: key, iv: try AES._CBC.IV(ivBytes: ivBytes))
        return String(decoding: plain, as: UTF8.self)
    }
}
