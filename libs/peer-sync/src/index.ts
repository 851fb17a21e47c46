export * from './mirror';
