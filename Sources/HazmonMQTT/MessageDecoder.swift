import HazmonCore

/// What of one MQTT message did not become a sample, and why.
public struct MessageDrops: Sendable, Equatable {
    /// Payloads (or points of a batch) that could not be read.
    public var payloadErrors: [PayloadError] = []
    /// Why the message, or a point of it, names no configured tag.
    public var unmapped: String?

    public var isEmpty: Bool { payloadErrors.isEmpty && unmapped == nil }

    public init(payloadErrors: [PayloadError] = [], unmapped: String? = nil) {
        self.payloadErrors = payloadErrors
        self.unmapped = unmapped
    }
}

extension TopicRouter {
    /// One MQTT message into samples: routes the topic, decodes the payload once, and appends a
    /// sample per tag it feeds, stamped `received` (engine time). A pure function: what it
    /// dropped comes back for the caller to count and log.
    public func decode(topic: String, payload: [UInt8], received: Instant, maxPayload: Int,
                       into samples: inout [Sample]) -> MessageDrops {
        var drops = MessageDrops()
        func sample(_ h: TagHandle, _ p: DecodedPoint) -> Sample {
            Sample(tag: h, value: p.value, quality: p.quality, sourceTime: p.sourceTime, time: received)
        }
        // An exact topic routes by its own dictionary; only map topics go through the cache.
        if exact[topic] == nil, let hit = resolved.lookup(topic) {
            do throws(PayloadError) {
                let doc = try PayloadDecoder.parse(payload, limit: maxPayload)
                samples.append(sample(hit.tag, try PayloadDecoder.point(in: doc, json: maps[hit.map].json)))
            } catch {
                drops.payloadErrors.append(error)
            }
            return drops
        }
        switch route(topic) {
        case .none:
            drops.unmapped = "no tag or [[mqtt.map]] takes this topic"
        case .bindings(let bindings):
            do {
                let doc = try PayloadDecoder.parse(payload, limit: maxPayload)
                for b in bindings {
                    do throws(PayloadError) {
                        samples.append(sample(b.tag, try PayloadDecoder.point(in: doc, json: b.json)))
                    } catch {
                        drops.payloadErrors.append(error)
                    }
                }
            } catch {
                drops.payloadErrors.append(error)
            }
        case .map(let map, let levels) where map.format == .neuron:
            do {
                let doc = try PayloadDecoder.parse(payload, limit: maxPayload)
                for p in NeuronDecoder.points(in: doc) {
                    switch p {
                    case .failure(let e): drops.payloadErrors.append(e)
                    case .success(let point):
                        guard let h = map.handle(levels: levels, point: point.name, node: point.node, group: point.group,
                                                 drops: &drops) else { continue }
                        if let code = point.error {
                            // Neuron could not read the tag: bad, with its code, never a value.
                            samples.append(Sample(tag: h, value: .nan, quality: .bad, sourceTime: point.sourceTime, time: received,
                                                  fault: .device(code: code)))
                        } else if let value = point.value {
                            samples.append(Sample(tag: h, value: value, quality: .good, sourceTime: point.sourceTime, time: received))
                        }
                    }
                }
            } catch {
                drops.payloadErrors.append(error)
            }
        case .map(let map, let levels):
            do {
                let doc = try PayloadDecoder.parse(payload, limit: maxPayload)
                let points: [Result<DecodedPoint, PayloadError>]
                if map.batch {
                    points = PayloadDecoder.batch(in: doc, json: map.json)
                } else {
                    do throws(PayloadError) { points = [.success(try PayloadDecoder.point(in: doc, json: map.json))] } catch { points = [.failure(error)] }
                }
                for p in points {
                    switch p {
                    case .failure(let e): drops.payloadErrors.append(e)
                    case .success(let point):
                        guard let h = map.handle(levels: levels, point: point.tag, drops: &drops) else { continue }
                        samples.append(sample(h, point))
                        if map.resolvesByTopic, let i = maps.firstIndex(where: { $0.id == map.id }) {
                            resolved.store(topic, TopicCache.Hit(tag: h, map: i))
                        }
                    }
                }
            } catch {
                drops.payloadErrors.append(error)
            }
        }
        return drops
    }
}

extension TopicRouter.Map {
    /// The configured tag a point names through the template, or nil with the reason in `drops`.
    func handle(levels: [Substring], point: String?, node: String? = nil, group: String? = nil,
                drops: inout MessageDrops) -> TagHandle? {
        guard let id = template.render(levels: levels, point: point, node: node, group: group) else {
            drops.unmapped = "template \"\(self.id)\" cannot name a tag from it"
            return nil
        }
        guard let h = tags[id] else {
            drops.unmapped = "it names tag \"\(id)\", which is not configured with mqtt_map = \"\(self.id)\""
            return nil
        }
        return h
    }
}
