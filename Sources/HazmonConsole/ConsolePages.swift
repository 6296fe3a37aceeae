import HazmonCore

/// The console's pages. Each is a small HTML shell; `console.js` fills it from the API.
enum ConsolePage: String, Sendable {
    case login, alarms, sources, tag, history
}

enum ConsoleAssets {
    /// One page: its shell, in `language`; the script reads `data-page` and `lang`.
    static func page(_ which: ConsolePage, language: Language, siteName: String) -> String {
        let title = language == .zhCN ? "hazmon 报警控制台" : "hazmon alarm console"
        return """
        <!DOCTYPE html>
        <html lang="\(language.rawValue)">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(siteName.htmlEscaped) · \(title)</title>
        <link rel="stylesheet" href="/static/console.css">
        <script src="/static/console.js" defer></script>
        </head>
        <body data-page="\(which.rawValue)">
        <header id="top"><span class="brand">hazmon</span> <span id="site">\(siteName.htmlEscaped)</span>
        <nav id="nav"></nav><span id="who"></span></header>
        <div id="banners"></div>
        <main id="main"></main>
        </body>
        </html>
        """
    }
}
