/**
 * The host route table that holds the routes of an ENI (upstream CalculateRouteTableId):
 * network card 0 uses device + 1, except device 0 (the primary ENI), which uses main (254);
 * card c > 0 uses 10000 + 100·c + device.
 */

export const MAIN_TABLE = 254;

export function routeTableId(deviceNumber: number, networkCard = 0): number {
  if (networkCard > 0) return 10000 + 100 * networkCard + deviceNumber;
  return deviceNumber === 0 ? MAIN_TABLE : deviceNumber + 1;
}
