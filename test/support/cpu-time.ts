/**
 * Milliseconds of CPU this process has spent since `started` (a `process.cpuUsage()`): for bounds on
 * how much work a step does. Unlike the time on the clock, it does not grow while a loaded machine
 * runs other processes: a linear-time check that took 130 ms on the clock took 1.9 s under load,
 * against a bound of 3 s, and 180 to 200 ms of CPU either way.
 */
export function cpuMsSince(started: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(started)
  return (user + system) / 1000
}
