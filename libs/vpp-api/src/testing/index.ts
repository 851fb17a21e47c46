// vpp-api's test kit (reached as @wgmesh/vpp-api/testing): the golden API definitions and captures,
// and a fake VPP API socket.
export * from './golden';
export * from './fake-vpp';
