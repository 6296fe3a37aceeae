import HazmonCore
import HazmonFeed
import HazmonPipeline

/// The feed's view of the pipeline.
struct PipelineFeedHandler: FeedRequestHandler {
    let pipeline: AlarmPipeline

    func snapshot() -> FeedSnapshot {
        let (seq, alarms) = pipeline.snapshot()
        return FeedSnapshot(seq: seq, alarms: alarms.map(\.json), hazardSources: pipeline.hazardSources().map(\.json))
    }

    func setMode(source: String, mode: OperatingMode, for duration: Duration?, user: String?, note: String?) -> FeedReply {
        do {
            try pipeline.setMode(source: source, mode: mode, for: duration, user: user, note: note, at: .steadyNow)
            return .ok
        } catch {
            return .error(code: error.code, message: error.description)
        }
    }

    func operate(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?) -> FeedReply {
        do {
            try pipeline.apply(action, tag: tag, condition: condition, user: user, note: note, at: .steadyNow)
            return .ok
        } catch {
            return .error(code: error.code, message: error.description)
        }
    }
}

extension FeedHub: EventSink {
    public func deliver(_ events: [AlarmEvent], json: [String]) { publish(events, json: json) }
}
