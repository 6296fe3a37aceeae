extension ConsoleAssets {
    /// The console's style sheet: grade colours of GB/T 50493's four grades (1 red … 4 blue),
    /// unacknowledged rows blinking, instrument faults hatched grey instead of a colour fill.
    static let style = #"""
    :root { --red: #d32f2f; --orange: #f57c00; --yellow: #fbc02d; --blue: #1976d2; --ink: #1b1f24; --line: #c9d1d9; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.4 system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; color: var(--ink); background: #f4f6f8; }
    header { display: flex; gap: 1.2em; align-items: center; padding: .5em 1em; background: #20262e; color: #fff; }
    header a { color: #cfe3ff; text-decoration: none; margin-right: 1em; }
    header a.here { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
    .brand { font-weight: 700; letter-spacing: .05em; }
    #who { margin-left: auto; display: flex; gap: .6em; align-items: center; }
    header button { background: #39424e; color: #fff; border: 1px solid #59636f; border-radius: 3px; padding: .15em .6em; cursor: pointer; }
    main { padding: 1em; }
    .banner { padding: .5em 1em; font-weight: 600; }
    .banner.offline { background: #6d1b1b; color: #fff; }
    .banner.flood { background: #ffe082; color: #4a3500; }
    table { border-collapse: collapse; width: 100%; background: #fff; }
    th, td { border-bottom: 1px solid var(--line); padding: .35em .5em; text-align: left; vertical-align: middle; }
    th { background: #e8edf2; font-weight: 600; }
    tr.alarm.grade-1 { background: var(--red); color: #fff; }
    tr.alarm.grade-2 { background: var(--orange); color: #fff; }
    tr.alarm.grade-3 { background: var(--yellow); color: #222; }
    tr.alarm.grade-4 { background: var(--blue); color: #fff; }
    tr.alarm.fault { background: repeating-linear-gradient(45deg, #d9dde2, #d9dde2 8px, #eef0f3 8px, #eef0f3 16px); color: #222; }
    tr.alarm.fault td:first-child { border-left: 8px solid var(--gc, #888); }
    tr.alarm.shelved { opacity: .6; }
    tr.alarm.unack { animation: blink 1s steps(1, end) infinite; }
    @keyframes blink { 50% { opacity: .35; } }
    tr.alarm a { color: inherit; }
    td.actions button { margin-right: .3em; cursor: pointer; }
    .kind { font-size: .8em; padding: 0 .4em; border: 1px solid currentColor; border-radius: 3px; }
    .swatch { display: inline-block; width: 1.1em; height: 1.1em; border-radius: 2px; vertical-align: middle; border: 1px solid #0003; }
    .swatch.red { background: var(--red); } .swatch.orange { background: var(--orange); }
    .swatch.yellow { background: var(--yellow); } .swatch.blue { background: var(--blue); } .swatch.none { background: #9e9e9e; }
    .card { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 1em; margin-bottom: 1em; }
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(12em, 1fr)); gap: .5em 1.5em; }
    .big { font-size: 1.8em; font-weight: 600; }
    form.search { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; margin-bottom: 1em; }
    form.search label { display: flex; flex-direction: column; font-size: .85em; }
    .login { max-width: 22em; margin: 4em auto; }
    .login label { display: block; margin: .6em 0; }
    .login input { width: 100%; padding: .4em; }
    .error { color: var(--red); font-weight: 600; }
    dialog form label { display: block; margin: .5em 0; }
    svg.chart { width: 100%; height: 260px; background: #fff; border: 1px solid var(--line); }
    svg.chart .series { fill: none; stroke: #1565c0; stroke-width: 2; }
    svg.chart .limit { stroke-dasharray: 6 4; stroke-width: 1.5; }
    svg.chart text { font-size: 11px; fill: #555; }
    .empty { color: #666; padding: 1em; }
    """#
}
