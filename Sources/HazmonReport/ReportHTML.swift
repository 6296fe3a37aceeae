import Foundation
import HazmonCore

extension ReportRenderer {
    /// One self-contained page (no script, no external file): the figures and three charts per
    /// position, drawn as inline SVG, laid out for printing on A4 for the monthly alarm review.
    public var html: String {
        var body = ""
        for r in reports { body += section(r) }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Alarm performance report \(Self.escape(settings.site))</title>
            <style>
            body { font-family: "Noto Sans", "DejaVu Sans", sans-serif; margin: 24px; color: #222; max-width: 1000px; }
            h1 { font-size: 20px; } h2 { font-size: 17px; border-bottom: 2px solid #444; margin-top: 32px; } h3 { font-size: 14px; }
            table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
            td, th { border: 1px solid #bbb; padding: 3px 8px; text-align: left; } th { background: #eee; }
            .fig { font-size: 13px; } .bad { color: #b00; font-weight: bold; } .ok { color: #070; }
            svg text { font-size: 11px; fill: #333; }
            @media print { h2 { page-break-before: always; } }
            </style></head><body>
            <h1>Alarm performance report: \(Self.escape(settings.site))</h1>
            <p class="fig">\(Self.escape(local(settings.since))) to \(Self.escape(local(settings.until))) (\(Self.escape(zone.identifier))).
            Figures after GB/T 41261-2022 (IEC 62682) and EEMUA 191, computed from the alarm journal by hazmon.</p>
            \(body)
            </body></html>

            """
    }

    func section(_ r: PositionReport) -> String {
        let s = r.prioritySplit
        let perHour = Double(r.annunciated) / max(hours, 1e-9)
        func verdict(_ good: Bool) -> String { good ? "ok" : "bad" }
        var h = "<h2 id=\"position-\(Self.escape(r.position.id))\">Position \(Self.escape(r.position.name))</h2>\n"
        h += "<table class=\"summary\">"
        h += "<tr><th>alarms annunciated</th><td>\(r.annunciated)</td><td>\(Self.number(perHour)) per hour "
            + "<span class=\"\(verdict(perHour <= 6))\">(EEMUA 191: about 6)</span></td></tr>"
        h += "<tr><th>per 10 minutes</th><td>average \(Self.number(r.averagePerTenMinutes))</td><td>peak \(r.peakPerTenMinutes)</td></tr>"
        h += "<tr><th>in flood (&gt; 10 in 10 min)</th><td>\(r.floodIntervals) of \(r.perTenMinutes.count) intervals</td>"
            + "<td class=\"\(verdict(r.floodShare < 0.01))\">\(Self.escape(Self.percent(r.floodShare))) (target &lt; 1 %)</td></tr>"
        h += "<tr><th>time to acknowledge</th><td>median \(Self.escape(Self.seconds(r.acknowledgeMedian)))</td>"
            + "<td>90th percentile \(Self.escape(Self.seconds(r.acknowledgeP90))); \(r.unacknowledged) not acknowledged</td></tr>"
        h += "<tr><th>priority mix</th><td colspan=\"2\">high \(Self.escape(Self.percent(s.high))), medium \(Self.escape(Self.percent(s.medium))), "
            + "low \(Self.escape(Self.percent(s.low))) (target about 5 / 15 / 80 %)</td></tr></table>\n"
        h += "<h3>Alarms per 10 minutes</h3>\n" + rateChart(r)
        h += "<h3>The 10 most frequent alarms</h3>\n" + topChart(r)
        h += "<h3>Priority mix against the 80 / 15 / 5 target</h3>\n" + splitChart(r)
        h += table("Chattering (3 transitions within 60 s)", ["alarm", "bursts", "transitions"],
                   r.chattering.map { ["\($0.tag)/\($0.condition)", "\($0.episodes)", "\($0.transitions)"] })
        h += table("Standing (active over 24 h)", ["alarm", "since", "until", "hours", "acknowledged"],
                   r.standing.map { ["\($0.tag)/\($0.condition)", local($0.since), $0.until.map(local) ?? "still active",
                                     Self.number($0.hours), $0.acknowledged ? "yes" : "no (stale)"] })
        h += table("Shelved", ["when", "alarm", "by", "why", "off the shelf"],
                   r.shelved.map { [local($0.time), "\($0.tag)/\($0.condition)", $0.user, $0.note,
                                    $0.until.map { "\(local($0))" } ?? "still shelved"] })
        h += table("Suppressed by design", ["alarm", "from", "to", "why"],
                   r.suppressed.map { ["\($0.tag)/\($0.condition)", local($0.since), $0.until.map(local) ?? "the end", $0.why] })
        h += table("Out of service (configuration)", ["tag", "reason"], r.outOfService.map { [$0.tag, $0.reason] })
        if !r.interlocks.isEmpty {
            h += table("Interlocks in service (share of the time)", ["interlock", "period"] + (0..<(r.interlocks.first?.days.count ?? 0)).map { "day \($0 + 1)" },
                       r.interlocks.map { i in [i.tag, i.overall.map(Self.percent) ?? "no record"] + i.days.map { $0.map(Self.percent) ?? "-" } })
        }
        return h
    }

    func table(_ title: String, _ head: [String], _ rows: [[String]]) -> String {
        var h = "<h3>\(Self.escape(title))</h3>\n"
        guard !rows.isEmpty else { return h + "<p class=\"fig\">none</p>\n" }
        h += "<table><tr>" + head.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr>"
        for r in rows { h += "<tr>" + r.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>" }
        return h + "</table>\n"
    }

    /// Bars of annunciations per 10 minutes (per hour over more than two days), with the flood
    /// line at 10 per 10 minutes.
    func rateChart(_ r: PositionReport) -> String {
        let group = r.perTenMinutes.count > 288 ? 6 : 1
        let bars = stride(from: 0, to: r.perTenMinutes.count, by: group).map { r.perTenMinutes[$0..<min($0 + group, r.perTenMinutes.count)].reduce(0, +) }
        let flood = 10 * group
        let top = max(bars.max() ?? 0, flood + flood / 2, 1)
        let w = 900.0, h = 180.0, left = 40.0, bottom = 20.0
        let bw = (w - left) / Double(max(1, bars.count))
        func y(_ v: Int) -> Double { (h - bottom) * (1 - Double(v) / Double(top)) }
        var svg = "<svg class=\"chart rate\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\">"
        for (i, v) in bars.enumerated() where v > 0 {
            let colour = v > flood ? "#d32f2f" : "#1976d2"
            svg += "<rect x=\"\(fmt(left + Double(i) * bw))\" y=\"\(fmt(y(v)))\" width=\"\(fmt(max(1, bw - 1)))\" height=\"\(fmt(h - bottom - y(v)))\" fill=\"\(colour)\"><title>\(v)</title></rect>"
        }
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(w))\" y1=\"\(fmt(y(flood)))\" y2=\"\(fmt(y(flood)))\" stroke=\"#d32f2f\" stroke-dasharray=\"4 3\"/>"
        svg += "<text x=\"2\" y=\"\(fmt(y(flood) + 4))\">\(flood)</text><text x=\"2\" y=\"12\">\(top)</text>"
        svg += "<text x=\"\(fmt(left))\" y=\"\(fmt(h - 4))\">\(Self.escape(local(settings.since)))</text>"
        svg += "<text x=\"\(fmt(w - 130))\" y=\"\(fmt(h - 4))\">\(Self.escape(local(settings.until)))</text>"
        svg += "<text x=\"\(fmt(w / 2 - 60))\" y=\"\(fmt(h - 4))\">per \(group == 1 ? "10 minutes" : "hour"); red: flood</text></svg>\n"
        return svg
    }

    func topChart(_ r: PositionReport) -> String {
        guard let most = r.top.first?.count, most > 0 else { return "<p class=\"fig\">no alarms</p>\n" }
        let rowH = 22.0, labelW = 220.0, w = 900.0
        var svg = "<svg class=\"chart top\" width=\"\(Int(w))\" height=\"\(Int(rowH * Double(r.top.count) + 4))\" role=\"img\">"
        for (i, a) in r.top.enumerated() {
            let y = Double(i) * rowH
            let len = (w - labelW - 60) * Double(a.count) / Double(most)
            svg += "<text x=\"0\" y=\"\(fmt(y + 15))\">\(Self.escape("\(a.tag)/\(a.condition)"))</text>"
            svg += "<rect x=\"\(fmt(labelW))\" y=\"\(fmt(y + 3))\" width=\"\(fmt(max(1, len)))\" height=\"\(fmt(rowH - 6))\" fill=\"#f57c00\"/>"
            svg += "<text x=\"\(fmt(labelW + len + 6))\" y=\"\(fmt(y + 15))\">\(a.count)</text>"
        }
        return svg + "</svg>\n"
    }

    func splitChart(_ r: PositionReport) -> String {
        let s = r.prioritySplit, t = PositionReport.priorityTarget
        let rows: [(String, Double, Double, String)] = [("high (grade 1)", s.high, t.high, "#d32f2f"),
                                                         ("medium (grade 2)", s.medium, t.medium, "#f57c00"),
                                                         ("low (grades 3-4)", s.low, t.low, "#fbc02d")]
        let w = 900.0, labelW = 160.0, rowH = 26.0, span = w - labelW - 210
        var svg = "<svg class=\"chart split\" width=\"\(Int(w))\" height=\"\(Int(rowH * 3 + 20))\" role=\"img\">"
        for (i, row) in rows.enumerated() {
            let y = Double(i) * rowH
            svg += "<text x=\"0\" y=\"\(fmt(y + 17))\">\(Self.escape(row.0))</text>"
            svg += "<rect x=\"\(fmt(labelW))\" y=\"\(fmt(y + 4))\" width=\"\(fmt(max(1, span * row.1)))\" height=\"\(fmt(rowH - 8))\" fill=\"\(row.3)\"/>"
            svg += "<line x1=\"\(fmt(labelW + span * row.2))\" x2=\"\(fmt(labelW + span * row.2))\" y1=\"\(fmt(y + 1))\" y2=\"\(fmt(y + rowH - 1))\" stroke=\"#000\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(fmt(labelW + span * max(row.1, row.2) + 8))\" y=\"\(fmt(y + 17))\">\(Self.escape(Self.percent(row.1))) (target \(Self.escape(Self.percent(row.2))))</text>"
        }
        svg += "<text x=\"\(fmt(labelW))\" y=\"\(fmt(rowH * 3 + 14))\">black line: target share</text>"
        return svg + "</svg>\n"
    }

    func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    static func escape(_ s: String) -> String { s.htmlEscaped }
}
