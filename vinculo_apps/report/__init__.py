"""One person's network as a report: fetched over gRPC (`data`), printed (`terminal`)
or written as one self-contained HTML page (`html`). Rendering takes a plain
`ReportData`, so it is tested on constructed data without any service."""
