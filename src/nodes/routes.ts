import type { HttpRouter } from './red';

/** Express 4 has no route removal; like the core http-in node, take the layers out of the stack. */
export function removeRoutes(app: HttpRouter, paths: readonly string[]): void {
  const stack = app._router?.stack;
  if (!stack) return;
  for (let i = stack.length - 1; i >= 0; i--) {
    const route = stack[i].route;
    if (route && paths.includes(route.path)) stack.splice(i, 1);
  }
}
