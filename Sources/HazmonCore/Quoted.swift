extension String {
    /// The string in double quotes for a message or log line, escaped as a JSON string (so a
    /// name with a newline cannot break a line in two) and cut at `limit` characters (so a
    /// huge one cannot flood it).
    public func quoted(limit: Int = 80) -> String {
        var out = ""
        if unicodeScalars.count <= limit {
            JSONWriter.appendQuoted(self, to: &out)
        } else {
            JSONWriter.appendQuoted(String(String.UnicodeScalarView(unicodeScalars.prefix(limit))) + "…", to: &out)
        }
        return out
    }
}

extension String {
    /// Without leading spaces and tabs, and trailing spaces, tabs and a carriage return.
    public var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

extension String {
    /// Safe as HTML text or a quoted attribute value: `& < > " '` as entities.
    public var htmlEscaped: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
