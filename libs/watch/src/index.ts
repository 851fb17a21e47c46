// libs/watch: what happens in a mesh, from its events, as lines or JSON records (wgmesh watch).
export * from './watch';
