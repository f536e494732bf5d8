/** The parser the monitor's tests read Prometheus text with (the package ships no types). */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
